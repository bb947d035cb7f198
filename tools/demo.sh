#!/usr/bin/env bash
# Set up (idempotent) and run the main job: `merge-ros demo` (extra arguments are passed on).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
exec tools/with-env merge-ros demo "$@"
