"""`merge-ros params`: every node parameter with its default, range and the one place it is declared."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("params", help="list the nodes' parameters and where each is declared",
                       description=__doc__.split("\n")[0])
    p.add_argument("node", nargs="?", help="only this node (perception_node, event_node, vlm_node, grounding_node)")
    p.add_argument("-q", "--query", default="", help="only parameters whose name contains this")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from merge_ros.config import node_parameters

    tables = node_parameters()
    if args.node and args.node not in tables:
        raise SystemExit(f"merge-ros params: no node {args.node!r} (one of {', '.join(tables)})")
    for node, spec in tables.items():
        if args.node and node != args.node:
            continue
        print(f"{node}:")
        for name, p in spec.items():
            if args.query not in name:
                continue
            limits = f" [{p.low:g}, {p.high:g}]" if p.low is not None and p.high is not None else ""
            limits += f" one of {', '.join(p.choices)}" if p.choices else ""
            print(f"  {name} = {p.default!r}{limits}\n      {p.description}\n      declared in {p.declared_in}")
    return 0
