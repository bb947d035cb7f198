"""`merge-ros run`: the four nodes of launch/merge.launch.py in one process, with the same parameter file, for
machines without `ros2 launch`; `--bag BAG` replays a bag into them (its images remapped onto the camera topic).
Runs until Ctrl-C, or with --bag until the bag has played (plus --settle seconds) when --exit is given.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from merge_ros.topics import BAG_IMAGE_TOPIC


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start the whole graph in one process (optionally replaying a bag into it)")
    p.add_argument("--config", type=Path, help="parameter file (default: the package's config/merge.yaml)")
    p.add_argument("--namespace", default="", help="namespace of the nodes and topics")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                   help="override one parameter, e.g. -p perception_node.detector=annotations (YAML value)")
    p.add_argument("--bag", type=Path, help="replay this bag into the graph")
    p.add_argument("--rate", type=float, default=1.0, help="replay rate (0 = as fast as possible)")
    p.add_argument("--camera-topic", default=BAG_IMAGE_TOPIC,
                   help="the bag's image topic, remapped onto the nodes' image/compressed")
    p.add_argument("--exit", action="store_true", help="with --bag: stop once the bag has played")
    p.add_argument("--settle", type=float, default=4.0, help="seconds to keep running after the bag (with --exit)")
    p.set_defaults(func=run)


def parse_overrides(items: list[str]) -> dict[str, dict]:
    """["node.name=value", ...] -> {node: {name: value}}; values are YAML scalars or lists."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, name = key.partition(".")
        if not sep or not dot or not node or not name:
            raise ValueError(f"bad --param {item!r}: expected NODE.NAME=VALUE")
        out.setdefault(node, {})[name] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    from merge_ros.ros.graph import run_graph

    try:
        overrides = parse_overrides(args.param)
    except ValueError as exc:
        print(f"merge-ros run: {exc}", file=sys.stderr)
        return 2
    return run_graph(args.config, overrides, args.namespace, bag=args.bag, rate=args.rate,
                     camera_topic=args.camera_topic, exit_after_bag=args.exit, settle_s=args.settle)
