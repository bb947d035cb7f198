"""Subcommands of `merge-ros`, one module each (see merge_ros.cli)."""
