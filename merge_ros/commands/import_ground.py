"""`merge-ros import-ground SCENE_DIR -o BAG`: a GROUND-eval scene folder as a rosbag2.

The bag layout is documented in merge_ros.io.ground_import.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from merge_ros.io.bags import STORAGES

LOG = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("import-ground", help="turn a GROUND scene folder into a rosbag2",
                            description="Write a GROUND-format scene folder (images/<stamp>.jpg, object_images/, "
                                        "person_images/, robot_images/, ground_truth.json) as a rosbag2: frames on "
                                        "/camera/image/compressed at their own stamps, registered instances on "
                                        "/registry/{objects,persons,robots}, the ground truth on /ground_truth.")
    parser.add_argument("scene", type=Path, metavar="SCENE_DIR", help="the scene folder")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="BAG",
                        help="bag directory to create (must not exist)")
    parser.add_argument("--storage", choices=tuple(STORAGES), default="mcap", help="storage (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from merge_ros.io.bags import BagError
    from merge_ros.io.ground_import import NotASceneError, import_scene

    try:
        summary = import_scene(args.scene, args.output, args.storage)
    except (NotASceneError, BagError) as exc:
        LOG.error("%s", exc)
        return 2
    registry = ", ".join(f"{n} {kind}(s)" for kind, n in summary.registry.items())
    LOG.info("%s: %d frames over %.2f s, %s, ground truth %s%s", summary.bag, summary.frames,
             (summary.last_ns - summary.first_ns) / 1e9, registry, "yes" if summary.ground_truth else "no",
             f", {len(summary.skipped)} unreadable file(s) skipped" if summary.skipped else "")
    return 0
