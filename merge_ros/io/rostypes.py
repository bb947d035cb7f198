"""A rosbags type store that knows this package's messages, for reading and writing bags without ROS.

The .msg files are read from the source checkout (msg/ beside merge_ros/) or from an installed package's
share/merge_ros/msg, so bags written here carry the same definitions that rosidl generated.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from merge_ros.resources import PACKAGE, candidates


def msg_dir() -> Path:
    """Where this package's .msg files are; raises FileNotFoundError naming the places looked at."""
    places = candidates("msg")
    for path in places:
        if any(path.glob("*.msg")):
            return path
    raise FileNotFoundError(f"no {PACKAGE} .msg files in any of: {', '.join(map(str, places))}")


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 Jazzy type store plus merge_ros/msg/* (same wire format as Humble and Kilted)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for path in sorted(msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store
