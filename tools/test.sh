#!/usr/bin/env bash
# Set up (idempotent) and run the linter and the test suite; extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
tools/with-env ruff check merge_ros test tools launch
exec tools/with-env python -m pytest "$@"
