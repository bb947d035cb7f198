"""`merge-ros bench events`: what the change detector costs and what it saves.

Figures:
- detector_ms: mean per-frame cost of ChangeDetector.update on a busy synthetic stream (10 actors, 40 objects, all
  actors picking up and carrying objects, boxes and keypoints jittered); target under 5 ms.
- vlm_requests_per_min: one VLM request per trigger that needs reasoning (ChangeDetector.needs_reasoning: a
  pick-up, placement, pour, handover or robot meeting of a person) on the synthetic GROUND-like scenes, against
  baseline_requests_per_min, the VLM-only baseline that sends every 4-frame chunk; reduction = baseline / ours
  (target at least 10x).
- f1 (and f1_action, f1_object, f1_on, f1_robot): the perception-only path (`none` backend: the candidate events
  themselves) scored with the GROUND protocol against the scenes' ground truth, overall and per scenario.

The detector's thresholds were tuned on synthetic seeds 0-2 (TUNING_SEEDS); the default report seeds are others.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from merge_ros.bench.scenes import add_matrix_arguments, iter_scenes, scene_grid, scene_name, score_events, work_folder
from merge_ros.events import ChangeDetector, ChangeDetectorConfig
from merge_ros.types import Box, Entity, EntityFrame, EntityKind, Event, Keypoint, seconds_to_ns

TUNING_SEEDS = (0, 1, 2)
REPORT_SEEDS = (100, 101, 102)
CHUNK_FRAMES = 4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("events", help="change detector cost, VLM requests saved, perception-only F1",
                       description=__doc__.split("\n\n")[0])
    add_matrix_arguments(p, REPORT_SEEDS, 30.0,
                         seeds_help=f"scene seeds to score (the thresholds were tuned on {list(TUNING_SEEDS)})")
    p.add_argument("--load-actors", type=int, default=10)
    p.add_argument("--load-objects", type=int, default=40)
    p.add_argument("--load-frames", type=int, default=600)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------------------------- per-frame cost


def load_stream(actors: int, objects: int, frames: int, fps: float = 10.0, seed: int = 0,
                noise_px: float = 1.5) -> list[EntityFrame]:
    """A busy table: persons (and one robot in five actors) each repeatedly reach for the nearest free object,
    carry it somewhere else and let go, so contacts, motion and placements happen all the time."""
    rng = np.random.default_rng(seed)
    width = 220.0 * actors
    positions = np.column_stack([rng.uniform(20, width - 20, objects), rng.uniform(520, 700, objects)])
    holder = [-1] * objects
    tasks: list[dict] = []
    for a in range(actors):
        home = np.array([110.0 + 220.0 * a, 450.0])
        tasks.append({"home": home, "hand": home.copy(), "phase": "idle", "until": rng.uniform(0, 2), "obj": -1,
                      "goal": home.copy()})
    out = []
    for i in range(frames):
        t = i / fps
        for a, task in enumerate(tasks):
            _advance(task, a, t, positions, holder, rng)
        ents = []
        for a, task in enumerate(tasks):
            is_robot = a % 5 == 4
            x0 = task["home"][0] - 100.0
            box = Box(x0, 100.0, x0 + 200.0, 500.0)
            hand = task["hand"] + rng.normal(0, noise_px, 2)
            kps = [Keypoint("gripper" if is_robot else "right_wrist", *hand, 1.0)]
            if not is_robot:
                kps.append(Keypoint("left_wrist", *(task["home"] + rng.normal(0, noise_px, 2)), 1.0))
            ents.append(Entity(f"{'robot' if is_robot else 'person'}_{a}",
                               EntityKind.ROBOT if is_robot else EntityKind.PERSON, "actor", box, 1.0, kps))
        for o in range(objects):
            c = positions[o] + rng.normal(0, noise_px, 2)
            ents.append(Entity(f"object_{o}", EntityKind.OBJECT, "thing", Box(c[0] - 15, c[1] - 15, c[0] + 15,
                                                                               c[1] + 15), 1.0))
        out.append(EntityFrame(seconds_to_ns(1000.0 + t), "camera", ents))
    return out


def _advance(task: dict, a: int, t: float, positions: np.ndarray, holder: list[int], rng) -> None:
    """One actor's reach-carry-release cycle; the hand moves at 300 px/s towards its goal."""
    step = 30.0
    delta = task["goal"] - task["hand"]
    dist = float(np.hypot(*delta))
    task["hand"] = task["goal"].copy() if dist <= step else task["hand"] + delta / dist * step
    if task["phase"] == "carry":
        positions[task["obj"]] = task["hand"] + (0.0, 25.0)
    arrived = dist <= step
    if task["phase"] == "idle" and t >= task["until"]:
        free = [o for o in range(len(positions)) if holder[o] < 0]
        if free:
            o = min(free, key=lambda k: np.hypot(*(positions[k] - task["home"])))
            holder[o] = a
            task.update(phase="reach", obj=o, goal=positions[o] - (0.0, 25.0))
    elif task["phase"] == "reach" and arrived:
        goal = np.array([task["home"][0] + rng.uniform(-150, 150), rng.uniform(520, 700)]) - (0.0, 25.0)
        task.update(phase="carry", goal=goal)
    elif task["phase"] == "carry" and arrived:
        task.update(phase="return", goal=task["home"].copy())
    elif task["phase"] == "return" and arrived:
        holder[task["obj"]] = -1
        task.update(phase="idle", obj=-1, until=t + rng.uniform(0.5, 2.0))


def detector_cost(frames: list[EntityFrame], config: ChangeDetectorConfig | None = None) -> dict[str, float]:
    """Per-frame wall time of ChangeDetector.update in milliseconds (mean, p95, max) and the triggers fired."""
    det = ChangeDetector(config)
    times = []
    fired = 0
    for f in frames:
        t0 = time.perf_counter()
        fired += len(det.update(f))
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"mean_ms": statistics.fmean(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
            "max_ms": times[-1], "triggers": fired}


# ------------------------------------------------------------------------------------ scenes: requests and F1


@dataclass
class SceneRun:
    """What the detector did on one scene."""

    name: str
    frames: int
    duration_s: float
    triggers: int
    reasoning: int
    events: list[Event] = field(default_factory=list)


def run_detector(frames: list[EntityFrame], config: ChangeDetectorConfig | None = None,
                 name: str = "") -> SceneRun:
    """The perception-only path on one stream: triggers, the ones that need the VLM, and candidate events."""
    det = ChangeDetector(config)
    triggers = reasoning = 0
    events: list[Event] = []
    for f in frames:
        for trig in det.update(f):
            triggers += 1
            reasoning += det.needs_reasoning(trig)
            if (event := det.candidate_event(trig)) is not None:
                events.append(event)
    duration = (frames[-1].stamp_ns - frames[0].stamp_ns) / 1e9 if len(frames) > 1 else 0.0
    if len(frames) > 1:
        duration += duration / (len(frames) - 1)  # the last frame lasts one period too
    return SceneRun(name, len(frames), duration, triggers, reasoning, events)


def request_rates(runs: list[SceneRun]) -> dict[str, float]:
    """VLM requests per minute of ours and of the every-4-frame-chunk baseline, over all scenes together."""
    minutes = sum(r.duration_s for r in runs) / 60.0
    ours = sum(r.reasoning for r in runs) / minutes if minutes else 0.0
    baseline = sum(r.frames / CHUNK_FRAMES for r in runs) / minutes if minutes else 0.0
    return {"vlm_requests_per_min": ours, "baseline_requests_per_min": baseline,
            "reduction": baseline / ours if ours else float("inf"),
            "triggers_per_min": sum(r.triggers for r in runs) / minutes if minutes else 0.0}


def scene_frames(folder: Path) -> list[EntityFrame]:
    from merge_ros.io.annotations import read_annotations

    return [EntityFrame(f.stamp_ns, "camera", f.entities) for f in read_annotations(Path(folder) / "annotations.jsonl")]


def score_runs(runs: list[SceneRun], folders: list[Path], tolerance: float) -> dict:
    from merge_ros.evaluation.protocol import summarize

    return summarize([score_events(r.events, folder, tolerance) for r, folder in zip(runs, folders, strict=True)])


def evaluate_scenes(grid: list[dict], duration_s: float, fps: float, tolerance: float, workdir: Path,
                    config: ChangeDetectorConfig | None = None) -> dict:
    """Generate each synthetic scene, run the detector on its annotations, and score per scenario and overall."""
    by_scenario: dict[str, tuple[list[SceneRun], list[Path]]] = {}
    for spec, folder in iter_scenes(grid, duration_s, fps, workdir):
        runs, folders = by_scenario.setdefault(spec["scenario"], ([], []))
        runs.append(run_detector(scene_frames(folder), config, scene_name(spec)))
        folders.append(folder)
    all_runs = [r for runs, _ in by_scenario.values() for r in runs]
    all_folders = [f for _, folders in by_scenario.values() for f in folders]
    return {"scenes": len(all_runs), **request_rates(all_runs), **score_runs(all_runs, all_folders, tolerance),
            "per_scenario": {s: {**score_runs(runs, folders, tolerance), **request_rates(runs)}
                             for s, (runs, folders) in by_scenario.items()}}


def run(args: argparse.Namespace) -> int:
    cost = detector_cost(load_stream(args.load_actors, args.load_objects, args.load_frames, args.fps))
    figures = {"detector_ms": cost["mean_ms"], "detector_p95_ms": cost["p95_ms"], "detector_max_ms": cost["max_ms"],
               "load_actors": args.load_actors, "load_objects": args.load_objects}
    grid = scene_grid(args.scenarios, args.persons, args.robot, args.seeds)
    with work_folder(args.workdir, "merge_bench_events_") as workdir:
        figures.update(evaluate_scenes(grid, args.duration, args.fps, args.tolerance, workdir))
    _print_table(figures)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


def _print_table(f: dict) -> None:
    print(f"change detector, {f['load_actors']} actors + {f['load_objects']} objects: "
          f"{f['detector_ms']:.2f} ms/frame mean, {f['detector_p95_ms']:.2f} p95, {f['detector_max_ms']:.2f} max "
          "(target < 5 ms)")
    print(f"VLM requests/min: {f['vlm_requests_per_min']:.1f} triggered vs {f['baseline_requests_per_min']:.1f} "
          f"every-{CHUNK_FRAMES}-frame baseline: {f['reduction']:.1f}x fewer (target >= 10x); "
          f"all triggers {f['triggers_per_min']:.1f}/min")
    print(f"perception-only F1 over {f['scenes']} scenes: {_f1_line(f)}")
    for name, s in f["per_scenario"].items():
        print(f"  {name:9s} {_f1_line(s)}  requests/min {s['vlm_requests_per_min']:.1f} "
              f"({s['reduction']:.1f}x fewer)")


def _f1_line(s: dict) -> str:
    return (f"f1 {s['f1']:.3f} (action {s['f1_action']:.3f}, object {s['f1_object']:.3f}, on {s['f1_on']:.3f}, "
            f"robot {s['f1_robot']:.3f}; TP {s['TP']} FP {s['FP']} FN {s['FN']})")
