"""Argument types shared by the subcommands."""
from __future__ import annotations

import argparse


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value
