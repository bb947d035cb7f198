"""`merge-ros`: one command line for running, replaying, recording, evaluating, synthesising, benchmarking.

Each subcommand lives in merge_ros.commands.<name> with a `register(subparsers)` function; heavy imports
(torch, rclpy) happen inside the command's run function so that `merge-ros --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "demo",
    "bench",
    "evaluate",
    "import_ground",
    "replay",
    "record",
    "synth",
    "params",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="merge-ros", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"merge_ros.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
