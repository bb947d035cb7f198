"""`merge-ros demo`: the main job. A scene (synthetic by default, or a GROUND-format folder) becomes a bag, the
bag is replayed over DDS into the whole graph, the grounded events are printed as they are published, and they
are scored against the scene's ground truth with the GROUND protocol, with a report written beside them.

No weights can be downloaded on a fresh machine, so the defaults are the `annotations` detector (the scene's
per-frame boxes) and the `none` VLM backend; `--detector ultralytics --model yolo11n.pt` and `--vlm-backend
transformers --vlm-model ...` (or `openai --vlm-base-url ...`) run the same graph with real models.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

METHOD = "merge-ros"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole graph over a (synthetic) recording, print events, evaluate")
    p.add_argument("-o", "--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    p.add_argument("--scene", type=Path, help="a GROUND-format scene folder (default: generate a synthetic one)")
    p.add_argument("--scenes", type=Path, help="a folder of GROUND-format scene folders (the GROUND-eval set): "
                                               "each is run, and the paper's table printed")
    p.add_argument("--scenario", default="sorting", choices=("sorting", "pouring", "handover"))
    p.add_argument("--persons", type=int, default=2)
    p.add_argument("--no-robot", dest="robot", action="store_false", help="synthetic scene without a robot arm")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--duration", type=float, default=30.0, help="synthetic scene length in seconds")
    p.add_argument("--rate", type=float, default=2.0, help="replay rate (bag seconds per wall second)")
    p.add_argument("--config", type=Path, help="parameter file (default: the package's config/merge.yaml)")
    p.add_argument("--detector", default="annotations", choices=("annotations", "ultralytics"))
    p.add_argument("--model", default="yolo11n.pt", help="Ultralytics model for --detector ultralytics")
    p.add_argument("--device", default="cpu")
    p.add_argument("--vlm-backend", default="none", choices=("none", "transformers", "openai"))
    p.add_argument("--vlm-model", default="")
    p.add_argument("--vlm-base-url", default="http://127.0.0.1:8000/v1")
    p.add_argument("--tolerance", type=float, default=5.0, help="evaluation tolerance in seconds")
    p.add_argument("--offline", action="store_true",
                   help="run the same cores in this process without DDS (as fast as the CPU allows)")
    p.set_defaults(func=run)


def graph_overrides(args: argparse.Namespace, scene: Path, journal: Path) -> dict[str, dict]:
    """What the demo sets on top of the parameter file; shared by the end-to-end test."""
    use_vlm = args.vlm_backend != "none"
    # Replaying a recording for evaluation: frames are received reliably and queued rather than only the newest
    # kept, so none is lost when the replay outpaces perception for a moment (live: frame_queue 1, best effort).
    perception = {"detector": args.detector, "scene_dir": str(scene), "compressed": True, "device": args.device,
                  "frame_queue": 1000, "reliable_images": True}
    if args.detector == "ultralytics":
        perception["model"] = args.model
    return {
        "perception_node": perception,
        "event_node": {"use_vlm": use_vlm, "scene_dir": str(scene), "compressed": True},
        "vlm_node": {"backend": args.vlm_backend, "model": args.vlm_model, "base_url": args.vlm_base_url,
                     "device": args.device},
        "grounding_node": {"journal_path": str(journal), "compressed": True},
    }


def describe(event) -> str:
    text = f"{event.actor_id} {event.action}"
    if event.object_id:
        text += f" {event.object_id}"
    if event.relation:
        text += f" {event.relation} {event.target_id}"
    if event.robot_interaction:
        text += " [robot]"
    return text


def print_event(start: float):
    """A callback printing each event as it is published, with the wall time since start."""
    def show(event) -> None:
        print(f"[{time.monotonic() - start:6.2f} s] {event.event_id} t={event.stamp:.2f}  {describe(event)}",
              flush=True)
    return show


def run(args: argparse.Namespace) -> int:
    from merge_ros.commands.run import check_startup
    from merge_ros.evaluation.report import write_report
    from merge_ros.evaluation.runs import evaluate_scenes
    from merge_ros.evaluation.table import format_table
    from merge_ros.io.scene_folder import NotASceneError, SceneFolder

    out: Path = args.out
    try:
        # The models first, in seconds: a robot without internet must not generate and import a scene only to
        # hear then that its VLM or detector is not on disk.
        check_startup(args.config, graph_overrides(args, out / "scene", out / "journal.jsonl"))
    except ValueError as exc:
        print(f"merge-ros demo: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.scenes is not None:
            scenes = [SceneFolder.open(p) for p in sorted(Path(args.scenes).iterdir()) if (p / "images").is_dir()]
            if not scenes:
                raise NotASceneError(f"{args.scenes}: no scene folder with images/ in it")
        elif args.scene is not None:
            scenes = [SceneFolder.open(args.scene)]
        else:
            from merge_ros.synth import generate_scene

            scenes = [generate_scene(out / "scene", scenario=args.scenario, persons=args.persons,
                                     robot=args.robot, seed=args.seed, duration_s=args.duration, overwrite=True)]
            print(f"synthetic {args.scenario} scene: {len(scenes[0].frames())} frames -> {scenes[0].root}")
    except NotASceneError as exc:
        print(f"merge-ros demo: {exc}", file=sys.stderr)
        return 2
    results = out / "scenes"
    for scene in scenes:
        run_scene_through_graph(scene, results / scene.name, args)
    if not any(s.ground_truth_path.is_file() for s in scenes):
        print("no ground_truth.json: nothing to evaluate")
        return 0
    result = evaluate_scenes(results, METHOD, args.tolerance)
    print()
    print(format_table(result))
    report = write_report(out / "report", result)
    print(f"\nreport: {report}")
    print(f"F1 {result.overall['f1']:.3f} (action {result.overall['f1_action']:.3f}, object "
          f"{result.overall['f1_object']:.3f}, on {result.overall['f1_on']:.3f}, robot "
          f"{result.overall['f1_robot']:.3f})")
    return 0


def run_scene_through_graph(scene, out: Path, args: argparse.Namespace) -> list:
    """One scene through the graph (over DDS, or offline); writes events.jsonl, the journal and, beside a copy
    of the ground truth, runs/<METHOD>/ in the paper's format with its processing_time.json."""
    from merge_ros.evaluation.protocol import write_prediction_folder
    from merge_ros.io.event_log import write_events
    from merge_ros.io.ground_import import import_scene

    out.mkdir(parents=True, exist_ok=True)
    print(f"\n== {scene.name}: {len(scene.frames())} frames")
    journal = out / "journal.jsonl"
    journal.unlink(missing_ok=True)
    overrides = graph_overrides(args, scene.root, journal)
    started = time.monotonic()
    if args.offline:
        from merge_ros.offline import merged_sections, run_scene

        events = run_scene(scene, merged_sections(args.config, overrides), print_event(started))
    else:
        bag = out / "scene_bag"
        summary = import_scene(scene.root, bag)
        print(f"bag: {bag}: {summary.frames} frames, registry {summary.registry}")
        from merge_ros.ros.graph import replay_into_graph

        events = replay_into_graph(bag, overrides, args.rate, args.config, on_event=print_event(time.monotonic()))
    elapsed = time.monotonic() - started
    write_events(out / "events.jsonl", events)
    print(f"{len(events)} grounded events -> {out / 'events.jsonl'}")
    if scene.ground_truth_path.is_file():
        shutil.copyfile(scene.ground_truth_path, out / "ground_truth.json")
        run = out / "runs" / METHOD
        shutil.rmtree(run, ignore_errors=True)
        write_prediction_folder(run, events)
        (run / "processing_time.json").write_text(json.dumps({"processing_time": elapsed,
                                                              "images": len(scene.frames())}))
    return events
