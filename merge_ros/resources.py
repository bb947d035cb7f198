"""Where the package's non-Python files (msg/, config/, launch/) are: beside merge_ros/ in a source checkout,
or under share/merge_ros/ of an install prefix on AMENT_PREFIX_PATH (colcon install, a ROS 2 install)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "merge_ros"


def candidates(*parts: str) -> list[Path]:
    found = [Path(__file__).resolve().parents[1].joinpath(*parts)]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            found.append(Path(prefix, "share", PACKAGE, *parts))
    return found


def share_path(*parts: str) -> Path:
    """The first existing location of parts; FileNotFoundError naming every place looked at."""
    places = candidates(*parts)
    for path in places:
        if path.exists():
            return path
    raise FileNotFoundError(f"{'/'.join(parts)} not found in any of: {', '.join(map(str, places))}")
