"""`merge-ros run`: the four nodes of launch/merge.launch.py in one process, with the same parameter file, for
machines without `ros2 launch`; `--bag BAG` replays a bag into them (its images remapped onto the camera topic).
Runs until Ctrl-C, or with --bag until the bag has played (plus --settle seconds) when --exit is given.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import yaml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start the whole graph in one process (optionally replaying a bag into it)")
    p.add_argument("--config", type=Path, help="parameter file (default: the package's config/merge.yaml)")
    p.add_argument("--namespace", default="", help="namespace of the nodes and topics")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                   help="override one parameter, e.g. -p perception_node.detector=annotations (YAML value)")
    p.add_argument("--bag", type=Path, help="replay this bag into the graph")
    p.add_argument("--rate", type=float, default=1.0, help="replay rate (0 = as fast as possible)")
    p.add_argument("--camera-topic", default="/camera/image/compressed",
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
    from merge_ros.graph import Graph
    from merge_ros.replay import Replayer, ReplayOptions

    try:
        overrides = parse_overrides(args.param)
    except ValueError as exc:
        print(f"merge-ros run: {exc}", file=sys.stderr)
        return 2
    if args.bag is not None:
        for node in ("perception_node", "event_node", "grounding_node"):
            overrides.setdefault(node, {}).setdefault("compressed", True)
    graph = Graph(args.config, overrides, namespace=args.namespace)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        replayer = None
        if args.bag is not None:
            ns = "/" + args.namespace.strip("/") if args.namespace.strip("/") else ""
            replayer = graph.add("replay", Replayer(args.bag, ReplayOptions(
                rate=args.rate, remap={args.camera_topic: f"{ns}/image/compressed"}, clock=True, wait_subscribers=3,
                reliable=True), context=graph.context))
        graph.start()
        print(f"merge-ros run: {', '.join(graph.nodes)} running; Ctrl-C to stop", flush=True)
        if replayer is not None:
            replayer.start()
            while not stop.is_set() and not replayer.wait(0.2):
                pass
            print(f"bag played: {replayer.total_published} messages", flush=True)
            if args.exit:
                stop.wait(args.settle)
                return 0
        stop.wait()
        return 0
    finally:
        graph.shutdown()
