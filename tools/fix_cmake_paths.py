"""Point the ROS 2 wheels' exported CMake files at this interpreter's include directories.

The PyPI wheels were built under /opt/python/cp311-cp311 and their exported targets name that machine's
Python and numpy include dirs; rosidl's Python generator fails to configure until they name ours.
Idempotent: a second run finds nothing to rewrite.
"""
from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

_BUILD_PREFIX = r"/opt/python/cp3\d+-cp3\d+"
_NUMPY_INCLUDE = re.compile(_BUILD_PREFIX + r"/lib/python3\.\d+/site-packages/numpy/_core/include")
_PYTHON_INCLUDE = re.compile(_BUILD_PREFIX + r"/include/python3\.\d+")


def rewrite(prefix: Path) -> int:
    """Rewrite every foreign include path under prefix/share; return the number of files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in (prefix / "share").rglob("*.cmake"):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = _PYTHON_INCLUDE.sub(python_include, _NUMPY_INCLUDE.sub(numpy_include, text))
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    print(f"fix_cmake_paths: rewrote {rewrite(root)} file(s) under {root}/share")
