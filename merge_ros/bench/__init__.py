"""Benchmarks behind `merge-ros bench <name>`: each module has `register(subparsers)` and prints figures,
with `--json` putting them as one JSON object on the last line."""
