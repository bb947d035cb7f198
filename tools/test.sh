#!/usr/bin/env bash
# Set up (idempotent) and run the linter and the test suite; extra arguments go to pytest.
# Extra ROS 2 sources for tools/setup.sh come through the environment, e.g.
# `MERGE_ROS_SOURCES=../shared/ros2-jazzy bash tools/test.sh` (what .ci/run does); once built they are remembered.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
tools/with-env ruff check merge_ros test tools launch
exec tools/with-env python -m pytest "$@"
