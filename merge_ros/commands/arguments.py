"""Argument types shared by the subcommands."""
from __future__ import annotations

import argparse


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_ros_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ros-args", nargs=argparse.REMAINDER, default=[], metavar="...",
                        help="ROS arguments for the node (e.g. -r __ns:=/robot1), the rest of the line")
