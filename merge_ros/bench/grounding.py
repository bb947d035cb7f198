"""`merge-ros bench grounding`: grounded-event F1 of the offline pipeline on a matrix of synthetic scenes.

Each scene (scenario x persons x robot, for every seed) is generated, run through the offline pipeline with the
default parameter file and the overrides of `merge-ros demo` for a synthetic scene (the `annotations` detector,
the scene's folder as scene_dir, no VLM), and its grounded events are scored with the GROUND protocol against
its ground truth. Figures: full-tuple F1 per cell (micro over its seeds), overall (micro over all scenes), the
worst single scene, and object F1. `--hint-ids` hands perception the scenes' true instance IDs
(identity.use_hint_ids), which separates what identity loses from what the event logic loses.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from merge_ros.bench.scenes import (
    add_matrix_arguments,
    cell_name,
    iter_scenes,
    scene_grid,
    scene_name,
    score_events,
    work_folder,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grounding", help="grounded-event F1 of the offline pipeline on synthetic scenes",
                       description=__doc__.split("\n\n")[0])
    add_matrix_arguments(p, None, 40.0)
    p.add_argument("--config", type=Path, help="parameter file (default: the package's config/merge.yaml)")
    p.add_argument("--hint-ids", action="store_true",
                   help="hand perception the true instance IDs (identity.use_hint_ids): the event logic alone")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.set_defaults(func=run)


def scene_overrides(folder: Path, hint_ids: bool = False) -> dict[str, dict]:
    """What `merge-ros demo` sets on top of the parameter file for a synthetic scene (its own defaults:
    annotations detector, no VLM, cpu), without a journal; with hint_ids, the true IDs go to identity."""
    from merge_ros.commands import demo

    parser = argparse.ArgumentParser()
    demo.register(parser.add_subparsers())
    overrides = demo.graph_overrides(parser.parse_args(["demo"]), Path(folder), Path())
    overrides["grounding_node"]["journal_path"] = ""
    if hint_ids:
        overrides["perception_node"]["identity.use_hint_ids"] = True
    return overrides


def run_grounding_scene(folder: Path, config: Path | None = None, hint_ids: bool = False) -> list:
    """One scene folder through the offline pipeline; its confirmed events."""
    from merge_ros.io.scene_folder import SceneFolder
    from merge_ros.offline import merged_sections, run_scene

    return run_scene(SceneFolder.open(folder), merged_sections(config, scene_overrides(folder, hint_ids)))


def _counts(c) -> dict:
    return {"f1": c.f1, "TP": c.tp, "FP": c.fp, "FN": c.fn}


def misses_by_action(score) -> tuple[Counter, Counter]:
    """(false predictions, missed ground-truth events) of a SceneScore's full-tuple matching, by (normalised)
    action: which kinds of event are invented and which are lost."""
    false, missed = Counter(), Counter()
    for actor in score.actors.values():
        preds, gts = {p for _, p in actor.pairs}, {g for g, _ in actor.pairs}
        false.update(k.action for i, (_, k) in enumerate(actor.predictions) if i not in preds)
        missed.update(k.action for i, (_, k) in enumerate(actor.ground_truth) if i not in gts)
    return false, missed


def evaluate_grounding(grid: list[dict], duration_s: float, fps: float, tolerance: float, workdir: Path,
                       config: Path | None = None, hint_ids: bool = False,
                       on_scene: Callable[[dict], None] = lambda s: None) -> dict:
    """Generate and run each scene of grid in turn, score it, and sum the counts per cell and overall."""
    from merge_ros.evaluation.protocol import TUPLE, summarize, total_counts

    scenes, scores, cells = [], [], {}
    false_total, missed_total = Counter(), Counter()
    for spec, folder in iter_scenes(grid, duration_s, fps, workdir):
        started = time.monotonic()
        events = run_grounding_scene(folder, config, hint_ids)
        score = score_events(events, folder, tolerance)
        scores.append(score)
        cells.setdefault(cell_name(spec), []).append(score)
        tup = score.counts[TUPLE]
        false, missed = misses_by_action(score)
        false_total.update(false)
        missed_total.update(missed)
        scene = {"scene": scene_name(spec), "cell": cell_name(spec), "seed": spec["seed"], **_counts(tup),
                 "f1_object": score.counts["object"].f1, "f1_action": score.counts["action"].f1,
                 "events": len(events), "seconds": round(time.monotonic() - started, 2),
                 "FP_by_action": dict(false), "FN_by_action": dict(missed),
                 # predictions of actors the ground truth does not have (a robot's own events, invented IDs)
                 "foreign_actor_events": sum(len(a.predictions) for a in score.actors.values()
                                             if not a.in_ground_truth)}
        scenes.append(scene)
        on_scene(scene)
    figures = summarize(scores)
    scored = [s for s in scenes if s["TP"] + s["FP"] + s["FN"]]  # a scene with nothing to score has no F1
    worst = min(scored, key=lambda s: s["f1"], default=None)
    figures.update(
        object_f1=figures["f1_object"], worst_f1=worst["f1"] if worst else 0.0,
        worst_scene=worst["scene"] if worst else "", hint_ids=hint_ids, scenes=scenes, duration_s=duration_s,
        FP_by_action=dict(false_total), FN_by_action=dict(missed_total),
        cells={name: {**_counts(total_counts(s)[TUPLE]), "f1_object": total_counts(s)["object"].f1,
                      "scenes": len(s)} for name, s in cells.items()})
    return figures


def run(args: argparse.Namespace) -> int:
    grid = scene_grid(args.scenarios, args.persons, args.robot, args.seeds)
    if not grid:
        print("merge-ros bench grounding: no scene in this matrix")
        return 2
    print(f"{len(grid)} scenes of {args.duration:g} s{', true IDs handed to perception' if args.hint_ids else ''}")
    with work_folder(args.workdir, "merge_bench_grounding_") as workdir:
        figures = evaluate_grounding(grid, args.duration, args.fps, args.tolerance, workdir, args.config,
                                     args.hint_ids, on_scene=_print_scene)
    _print_table(figures)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


def _print_scene(s: dict) -> None:
    print(f"  {s['scene']:26s} f1 {s['f1']:.3f}  TP {s['TP']:2d} FP {s['FP']:2d} FN {s['FN']:2d}  "
          f"object f1 {s['f1_object']:.3f}  ({s['seconds']:.0f} s)", flush=True)


def _print_table(f: dict) -> None:
    print("full-tuple F1 per cell (micro over seeds):")
    for name, c in f["cells"].items():  # in the matrix's order
        print(f"  {name:20s} f1 {c['f1']:.3f}  TP {c['TP']:3d} FP {c['FP']:3d} FN {c['FN']:3d}  "
              f"object f1 {c['f1_object']:.3f}")
    print(f"overall F1 {f['f1']:.3f} over {len(f['scenes'])} scenes (TP {f['TP']} FP {f['FP']} FN {f['FN']}; "
          f"action {f['f1_action']:.3f}, on {f['f1_on']:.3f}, robot {f['f1_robot']:.3f})")
    print(f"worst scene: {f['worst_scene']} f1 {f['worst_f1']:.3f}")
    print(f"false predictions by action {_by_action(f['FP_by_action'])}; missed {_by_action(f['FN_by_action'])}")
    print(f"object F1 {f['object_f1']:.3f}")


def _by_action(counts: dict) -> str:
    return ", ".join(f"{a or '(none)'} {n}" for a, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"
