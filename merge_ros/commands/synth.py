"""`merge-ros synth`: write a procedural GROUND-format scene (see merge_ros.synth) for tests and the demo."""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from merge_ros.synth.catalog import SCENARIOS

    parser = sub.add_parser("synth", help="generate a synthetic GROUND-format scene with annotations")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder (empty or absent)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="sorting")
    parser.add_argument("--persons", type=int, choices=(1, 2, 3), default=1)
    parser.add_argument("--robot", action="store_true", help="a robot arm takes part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--clean", action="store_true",
                        help="no realism: exact boxes, no misses, no noise, no acted distractions")
    parser.add_argument("--overwrite", action="store_true", help="replace a scene generated there before")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from merge_ros.synth import Realism, generate_scene

    t0 = time.perf_counter()
    try:
        scene = generate_scene(args.out, scenario=args.scenario, persons=args.persons, robot=args.robot,
                               seed=args.seed, duration_s=args.duration, fps=args.fps, width=args.width,
                               height=args.height, realism=Realism.clean() if args.clean else None,
                               overwrite=args.overwrite)
    except (ValueError, FileExistsError, NotADirectoryError) as exc:
        log.error("%s", exc)
        return 2
    gt = scene.ground_truth()
    events = sum(1 for per in gt.values() for evs in per.values() for e in evs if e["action"] != "idle")
    print(json.dumps({"scene": str(scene.root), "frames": len(scene.frames()), "objects": len(scene.object_images()),
                      "persons": len(scene.person_images()), "events": events,
                      "seconds": round(time.perf_counter() - t0, 2)}))
    return 0
