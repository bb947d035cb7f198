"""`merge-ros bench graph`: the whole graph's latency, grounding throughput and memory over a long stream.

Figures:
- latency_p50_s / latency_p95_s: from a frame's arrival on the camera topic to the confirmed Event about that
  frame (the Event's stamp is the frame's), over DDS, the four nodes in one process, a synthetic scene replayed
  at its own 10 fps, no VLM; launched_latency_*: the same with each node in its own process under `ros2 launch`,
  as on a robot (skipped where `ros2 launch` is not installed), both on a ROS domain of their own. Both include
  the change detector's debounce and grounding's confirmation window (confirm_s, confirm_frames): the time an
  event needs to be sure, not only the time to compute it.
- events_per_s: grounding throughput, confirmed events per second of WorldModel work on a stream of candidates
  from 10 actors (observe + add_candidate + flush per frame, journal on).
- rss_growth_mb: resident memory growth of the offline pipeline (the same cores as the nodes: identity gallery,
  change detector, request builder, world model with journal) over a long synthetic stream (default one hour of
  scene time at 10 fps, a synthetic scene looped with shifted stamps), measured after a warm-up of a tenth of the
  stream; target under 50 MB.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import psutil

from merge_ros.io.annotations import AnnotatedFrame, read_annotations, write_annotations
from merge_ros.types import NS_PER_S, Event, seconds_to_ns


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graph", help="end-to-end latency, grounding throughput, memory over a long stream",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--latency-duration", type=float, default=30.0, help="seconds of scene replayed for latency")
    p.add_argument("--stream-hours", type=float, default=1.0, help="hours of scene time for the memory figure")
    p.add_argument("--candidates", type=int, default=20000, help="candidates fed to grounding for throughput")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.set_defaults(func=run)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_latency(scene, workdir: Path) -> list[float]:
    """Seconds from each frame's arrival to the confirmed events stamped with that frame's stamp."""
    from merge_ros.commands.demo import graph_overrides
    from merge_ros.io.ground_import import import_scene
    from merge_ros.ros.conversions import time_to_ns
    from merge_ros.ros.graph import replay_into_graph

    bag = workdir / "latency_bag"
    import_scene(scene.root, bag)
    args = argparse.Namespace(detector="annotations", model="", device="cpu", vlm_backend="none", vlm_model="",
                              vlm_base_url="")
    arrivals: dict[int, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def on_frame(msg) -> None:
        with lock:
            arrivals[time_to_ns(msg.header.stamp)] = time.monotonic()

    def on_event(event: Event) -> None:
        now = time.monotonic()
        with lock:
            if event.stamp_ns in arrivals:
                latencies.append(now - arrivals[event.stamp_ns])

    overrides = graph_overrides(args, scene.root, workdir / "latency_journal.jsonl")
    # as on a robot: a best-effort camera at its own rate, perception keeping only the newest frame
    overrides["perception_node"].update(frame_queue=1, reliable_images=False)
    replay_into_graph(bag, overrides, rate=1.0, on_event=on_event, on_frame=on_frame, settle_s=3.0)
    return latencies


def launched_latency(scene, workdir: Path):
    """The same latency with every node in its own process under `ros2 launch` (as on a robot); None, with the
    reason printed, where `ros2 launch` is not installed."""
    from merge_ros.ros.launched import LaunchUnavailable, measure_launched_latency

    try:
        return measure_launched_latency(scene, workdir / "latency_bag", workdir)
    except LaunchUnavailable as exc:
        print(f"latency over the launched graph: skipped ({exc})")
        return None


def grounding_throughput(candidates: int, workdir: Path) -> float:
    """Confirmed events per second of WorldModel work (journal on)."""
    from merge_ros.grounding import Journal, WorldModel
    from merge_ros.types import Box, Entity, EntityFrame, EntityKind

    actors = [f"person_{i}" for i in range(10)]
    frame_entities = [Entity(a, EntityKind.PERSON, "person", Box(i * 60, 0, i * 60 + 50, 100))
                      for i, a in enumerate(actors)]
    with Journal(workdir / "throughput.jsonl") as journal:
        world = WorldModel(journal=journal)
        stamp = seconds_to_ns(1.7e9)
        confirmed = 0
        start = time.perf_counter()
        for i in range(candidates):
            stamp += NS_PER_S // 10
            actor = actors[i % len(actors)]
            k = i // len(actors)
            action = "grasp" if k % 2 == 0 else "place_down"
            world.observe(EntityFrame(stamp, "camera", frame_entities))
            confirmed += len(world.add_candidate(Event(stamp, actor, action, f"object_{k % 40}",
                                                       "on" if action == "place_down" else "",
                                                       "object_99" if action == "place_down" else "")))
            confirmed += len(world.flush(stamp))
        confirmed += len(world.finish())
        elapsed = time.perf_counter() - start
    return confirmed / elapsed


def long_stream_rss(scene, hours: float, workdir: Path) -> tuple[float, float, int, int]:
    """(rss after warm-up MB, growth MB, frames, events) of the offline pipeline over a looped scene."""
    from merge_ros.commands.demo import graph_overrides
    from merge_ros.offline import OfflineGraph, merged_sections

    frames = [(seconds_to_ns(stamp), path) for stamp, path in scene.frames()]
    period_ns = frames[-1][0] - frames[0][0] + NS_PER_S // 10
    loops = max(1, round(hours * 3600 * NS_PER_S / period_ns))
    base = list(read_annotations(scene.annotations_path))
    looped = workdir / "looped_annotations.jsonl"
    write_annotations(looped, (AnnotatedFrame(a.stamp + k * period_ns / NS_PER_S, a.image, a.entities)
                               for k in range(loops) for a in base))
    images = {stamp: cv2.imread(str(path)) for stamp, path in frames}
    args = argparse.Namespace(detector="annotations", model="", device="cpu", vlm_backend="none", vlm_model="",
                              vlm_base_url="")
    overrides = graph_overrides(args, scene.root, workdir / "stream_journal.jsonl")
    overrides["perception_node"]["annotations_file"] = str(looped)
    pipeline = OfflineGraph(merged_sections(None, overrides))
    process = psutil.Process()
    total = loops * len(frames)
    warm_rss = 0.0
    n = 0
    for k in range(loops):
        for stamp, _ in frames:
            pipeline.process(images[stamp], stamp + k * period_ns)
            n += 1
            if n == max(1, total // 10):
                gc.collect()
                warm_rss = process.memory_info().rss / 2**20
    events = len(pipeline.finish())
    gc.collect()
    return warm_rss, process.memory_info().rss / 2**20 - warm_rss, total, events


def run(args: argparse.Namespace) -> int:
    from merge_ros.ros.domain import private_domain
    from merge_ros.synth import generate_scene

    with tempfile.TemporaryDirectory(prefix="merge_bench_graph_") as tmp, private_domain() as domain:
        print(f"the benchmark's graphs run on ROS domain {domain}, localhost only (away from a live graph)")
        work = Path(tmp)
        scene = generate_scene(work / "scene", scenario="sorting", persons=2, robot=True, seed=args.seed,
                               duration_s=args.latency_duration)
        latencies = measure_latency(scene, work)
        print(f"latency over DDS at 10 fps, one-process graph: {len(latencies)} events, p50 "
              f"{statistics.median(latencies):.3f} s, p95 {percentile(latencies, 0.95):.3f} s" if latencies
              else "latency: no events")
        launched = launched_latency(scene, work)
        lat = launched.latencies if launched else []
        if lat:
            print(f"latency over the launched graph (separate processes): {len(lat)} events, p50 "
                  f"{statistics.median(lat):.3f} s, p95 {percentile(lat, 0.95):.3f} s, launch exit code "
                  f"{launched.launch_exit_code}")
        events_per_s = grounding_throughput(args.candidates, work)
        print(f"grounding throughput: {events_per_s:.0f} confirmed events/s")
        t0 = time.perf_counter()
        warm, growth, frames, events = long_stream_rss(scene, args.stream_hours, work)
        print(f"long stream: {frames} frames ({frames / 36000:.2f} h at 10 fps), {events} events in "
              f"{time.perf_counter() - t0:.0f} s; RSS {warm:.0f} MB after warm-up, growth {growth:+.1f} MB")
    figures = {
        "latency_p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 0.95), 4) if latencies else None,
        "latency_events": len(latencies),
        "launched_latency_p50_s": round(statistics.median(lat), 4) if lat else None,
        "launched_latency_p95_s": round(percentile(lat, 0.95), 4) if lat else None,
        "launched_latency_events": len(lat),
        "launched_exit_code": launched.launch_exit_code if launched else None,
        "events_per_s": round(events_per_s, 1),
        "rss_after_warmup_mb": round(warm, 1),
        "rss_growth_mb": round(growth, 2),
        "stream_frames": frames,
        "stream_events": events,
    }
    if args.json:
        print(json.dumps(figures))
    return 0
