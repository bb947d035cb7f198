"""`merge-ros bench <name>`: benchmarks that print figures (see merge_ros.bench)."""
from __future__ import annotations

import argparse
import importlib

BENCH_MODULES: tuple[str, ...] = ("perception", "identity", "events", "grounding", "graph", "depth")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="run a benchmark and print its figures")
    inner = parser.add_subparsers(dest="bench", metavar="BENCH")
    inner.required = True
    for name in BENCH_MODULES:
        importlib.import_module(f"merge_ros.bench.{name}").register(inner)
