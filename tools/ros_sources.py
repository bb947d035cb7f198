"""Build and install extra ROS 2 packages from folders of sources into the environment of tools/setup.sh.

tools/setup.sh runs it with the venv's Python (see the header of setup.sh for the option that does):

    python tools/ros_sources.py sync --venv VENV --base BASE --deps-hash H1 --build-hash H2 --requirements FILE \
        [--constraint FILE]... [DIR ...]
    python tools/ros_sources.py sync --venv VENV --base BASE --none      # uninstall them and forget the folders
    python tools/ros_sources.py depends-hash --base BASE PACKAGE_XML    # the colcon build's hash, if PACKAGE_XML
                                                                        # depends on one of its packages

Packages are found under each DIR by their package.xml: a folder holding one is a package and is not searched
further. A folder without package.xml but with pyproject.toml, setup.py or setup.cfg is a plain Python package.
Hidden folders, __pycache__ and folders holding COLCON_IGNORE, AMENT_IGNORE or CATKIN_IGNORE are skipped.

- Python packages (package.xml of build_type ament_python, or plain ones) go into the venv with
  `pip install --no-deps --no-build-isolation`, after FILE (their pinned PyPI needs). pip builds a local folder in
  place (it writes build/ and NAME.egg-info there, which fails on a read-only folder and reuses stale files), so
  each package is first copied, without build/, *.egg-info and __pycache__, to BASE/python/NAME.
- ament_cmake and cmake packages are built with colcon from the sources in place (CMake builds out of tree, in
  BASE/build) into one merged prefix, BASE/install, in dependency order, with BUILD_TESTING off; tools/env.sh sources
  BASE/install/local_setup.bash. They are built after the Python ones, which could be among their build tools.

Idempotent: each package's content (every file's path, mode and bytes, less what the copy leaves out) is hashed
and recorded, VENV/.merge_ros_ros_sources.json for the pip-installed ones and BASE/install/.merge_ros_ros_sources.json
for the colcon ones. Unchanged packages are skipped (a no-op run only reads and hashes the sources), changed ones are
reinstalled, vanished ones uninstalled. FILE is re-installed when it or the venv's pins (H1) change. colcon runs again
when a colcon package's sources, the ROS wheels (H2), FILE, Python or numpy change: incrementally (CMake's own
dependency tracking), from scratch only when a package left the set. The folders are remembered in BASE/sources.txt,
so a later `sync` without DIR (a plain tools/setup.sh) keeps them up to date.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

# Bump to force a clean colcon rebuild when the way packages are built changes.
BUILD_VERSION = "1"
COLCON_CMAKE_ARGS = ["-DBUILD_TESTING=OFF"]
IGNORE_MARKERS = ("COLCON_IGNORE", "AMENT_IGNORE", "CATKIN_IGNORE")
PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")
PIP_MANIFEST = ".merge_ros_ros_sources.json"
COLCON_STAMP = ".merge_ros_ros_sources.json"


def log(message: str) -> None:
    print(f"[setup] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Package:
    name: str
    kind: str  # "python" or "cmake"
    path: Path
    digest: str


def _package_xml(path: Path) -> tuple[str, str | None]:
    root = ET.parse(path).getroot()
    name = (root.findtext("name") or "").strip()
    if not name:
        raise SystemExit(f"{path}: no <name>")
    build_type = root.findtext("export/build_type")
    return name, build_type.strip() if build_type else None


def _kind(folder: Path, build_type: str | None) -> str:
    if build_type == "ament_python":
        return "python"
    if build_type in ("ament_cmake", "cmake"):
        return "cmake"
    if build_type is None:
        if (folder / "CMakeLists.txt").is_file():
            return "cmake"
        if any((folder / m).is_file() for m in PYTHON_MARKERS):
            return "python"
    raise SystemExit(f"{folder}: build type {build_type or '(none)'} is not supported "
                     "(ament_python, ament_cmake, cmake)")


def package_files(folder: Path):
    """The files that make up a package, sorted: not build/ nor *.egg-info at its top, no __pycache__, no dotfolder."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        top = dirpath == str(folder)
        dirnames[:] = sorted(
            d for d in dirnames
            if d != "__pycache__" and not d.startswith(".") and not (top and (d == "build" or d.endswith(".egg-info")))
        )
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                path = Path(dirpath, name)
                yield path, path.relative_to(folder)


def content_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for path, rel in package_files(folder):
        data = path.read_bytes()
        h.update(f"{rel}\0{os.stat(path).st_mode & 0o111:o}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def discover(roots: list[Path]) -> list[Package]:
    found: dict[str, Package] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            folder = Path(dirpath)
            if any(m in filenames for m in IGNORE_MARKERS):
                dirnames[:] = []
                continue
            if "package.xml" in filenames:
                name, build_type = _package_xml(folder / "package.xml")
                kind = _kind(folder, build_type)
            elif any(m in filenames for m in PYTHON_MARKERS):
                name, kind = folder.name, "python"
            else:
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
                continue
            dirnames[:] = []
            if name in found:
                raise SystemExit(f"package {name} found twice: {found[name].path} and {folder}")
            found[name] = Package(name, kind, folder, content_hash(folder))
    return sorted(found.values(), key=lambda p: p.name)


def run(cmd: list[str], log_path: Path | None = None, **kwargs) -> None:
    """Run cmd; with log_path, its output goes there and only its last lines to stderr if it fails."""
    if log_path is None:
        subprocess.run(cmd, check=True, **kwargs)
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs).returncode
    if rc != 0:
        sys.stderr.writelines(log_path.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"failed (exit {rc}): {' '.join(map(str, cmd))}; full log: {log_path}")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _copy_package(src: Path, dst: Path) -> None:
    """A writable copy of the package's files (see package_files), whatever the source's modes."""
    if dst.exists():
        shutil.rmtree(dst)
    for path, rel in package_files(src):
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        os.chmod(target, (os.stat(path).st_mode & 0o755) | 0o644)


def _pip(venv: Path, *args: str) -> list[str]:
    return [str(venv / "bin" / "python"), "-m", "pip", *args]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sync_requirements(venv: Path, base: Path, requirements: Path, deps_hash: str, manifest: dict,
                      constraints: list[Path]) -> None:
    """pip install -r requirements (with the venv's own pins as constraints) when it or the venv's pins changed."""
    key = hashlib.sha256(requirements.read_bytes() + deps_hash.encode()).hexdigest()[:16]
    if manifest.get("requirements") == key:
        return
    t0 = time.monotonic()
    log(f"installing the extra sources' PyPI needs ({requirements.name})")
    cargs = [a for c in constraints if c.is_file() for a in ("-c", str(c))]
    run(_pip(venv, "install", "-r", str(requirements), *cargs), base / "pip-requirements.log")
    # Message wheels among them export the wheel builder's include paths until rewritten.
    run([str(venv / "bin" / "python"), str(Path(__file__).with_name("fix_cmake_paths.py")), str(venv)],
        base / "fix_cmake_paths.log")
    manifest["requirements"] = key
    log(f"  PyPI needs: {time.monotonic() - t0:.1f} s")


def sync_python(venv: Path, base: Path, packages: list[Package], manifest: dict) -> None:
    recorded: dict = manifest.setdefault("packages", {})
    wanted = {p.name: p for p in packages}
    gone = [name for name in recorded if name not in wanted]
    if gone:
        dists = [recorded[name]["dist"] for name in gone if _installed(recorded[name]["dist"])]
        log(f"uninstalling Python packages no longer in the sources: {' '.join(gone)}")
        if dists:
            run(_pip(venv, "uninstall", "-q", "-y", *dists))
        for name in gone:
            del recorded[name]
    todo = [p for p in packages
            if recorded.get(p.name, {}).get("hash") != p.digest or not _installed(recorded[p.name]["dist"])]
    if not todo:
        return
    t0 = time.monotonic()
    log(f"installing {len(todo)} Python package(s) from source with pip: {' '.join(p.name for p in todo)}")
    work = base / "python"
    if work.exists():
        shutil.rmtree(work)
    copies = {}
    for p in todo:
        _copy_package(p.path, work / p.name)
        copies[str((work / p.name).resolve())] = p
    report = base / "pip-report.json"
    run(_pip(venv, "install", "--no-deps", "--no-build-isolation", "--force-reinstall", "--no-cache-dir",
             "--report", str(report), *copies), base / "pip-sources.log")
    done = {}
    for item in json.loads(report.read_text())["install"]:
        url = item.get("download_info", {}).get("url", "")
        p = copies.get(url.removeprefix("file://"))
        if p is not None:
            done[p.name] = {"hash": p.digest, "dist": item["metadata"]["name"], "source": str(p.path)}
    missing = [p.name for p in todo if p.name not in done]
    if missing:
        raise SystemExit(f"pip's report does not name {' '.join(missing)}")
    shutil.rmtree(work)
    report.unlink()
    # Recorded only once the check passes, so that a failed run is retried whole.
    check_installed(venv, {_norm(r["dist"]) for r in [*recorded.values(), *done.values()]})
    recorded.update(done)
    log(f"  Python packages: {time.monotonic() - t0:.1f} s")


def check_installed(venv: Path, ours: set[str]) -> None:
    """--no-deps trusts the requirements file to bring what the packages need: pip check names what it missed.

    The ROS wheels install a ROS package NAME as the distribution ros-NAME, so a requirement on NAME (e.g. launch_ros
    on ament_index_python) that pip calls missing counts as met when NAME is in the venv's ament index.
    """
    index = venv / "share" / "ament_index" / "resource_index" / "packages"
    ros_names = {_norm(p.name) for p in index.iterdir()} if index.is_dir() else set()
    check = subprocess.run(_pip(venv, "check"), capture_output=True, text=True)
    broken = []
    for line in check.stdout.splitlines():
        words = line.split()
        if not words or _norm(words[0]) not in ours:
            continue
        missing = re.match(r"\S+ \S+ requires (\S+), which is not installed", line)
        if missing and _norm(missing.group(1).rstrip(",")) in ros_names:
            continue
        broken.append(line)
    if broken:
        raise SystemExit("pip check: " + "; ".join(broken) + " (pin what is missing in the requirements file)")


def _colcon_env(venv: Path) -> dict:
    env = dict(os.environ)
    for var in ("PYTHONPATH", "COLCON_PREFIX_PATH", "CMAKE_PREFIX_PATH", "AMENT_PREFIX_PATH"):
        env.pop(var, None)
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               AMENT_PREFIX_PATH=str(venv), CMAKE_PREFIX_PATH=str(venv))
    return env


def sync_cmake(venv: Path, base: Path, packages: list[Package], env_key: str) -> None:
    install, build = base / "install", base / "build"
    stamp_path = install / COLCON_STAMP
    stamp = _read_json(stamp_path)
    wanted = {p.name: p.digest for p in packages}
    if stamp.get("env") == env_key and stamp.get("packages") == wanted:
        return
    if not packages:
        if install.exists() or build.exists():
            log("removing the colcon-built extra packages (none left in the sources)")
        shutil.rmtree(install, ignore_errors=True)
        shutil.rmtree(build, ignore_errors=True)
        return
    # From scratch when a package left the merged prefix (its files would stay) or the way of building changed;
    # otherwise colcon's and CMake's own dependency tracking rebuild what changed (sources, the venv's wheels).
    clean = (stamp.get("env", "").split("-")[0] != env_key.split("-")[0]
             or not set(stamp.get("packages", {})) <= set(wanted))
    if clean:
        shutil.rmtree(install, ignore_errors=True)
        shutil.rmtree(build, ignore_errors=True)
    else:
        # Until this build succeeds: names what the prefix may hold, and matches no env, so a failure is retried.
        _write_json(stamp_path, {"env": f"{BUILD_VERSION}-incomplete",
                                 "packages": dict.fromkeys({*stamp.get("packages", {}), *wanted}, "")})
    t0 = time.monotonic()
    log(f"building {len(packages)} package(s) with colcon into {install} ({'clean' if clean else 'incremental'}): "
        + " ".join(p.name for p in packages))
    cmd = [str(venv / "bin" / "colcon"), "--log-base", str(base / "log"), "build", "--merge-install",
           "--build-base", str(build), "--install-base", str(install), "--executor", "sequential",
           "--event-handlers", "console_stderr-", "console_cohesion-", "status-", "summary-",
           "--paths", *(str(p.path) for p in packages), "--cmake-args", *COLCON_CMAKE_ARGS]
    base.mkdir(parents=True, exist_ok=True)
    log_path = base / "colcon.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=base, env=_colcon_env(venv), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            if line.startswith(("Starting >>>", "Finished <<<", "Failed   <<<", "Aborted  <<<")):
                log("  " + line.rstrip())
        rc = proc.wait()
    if rc != 0:
        sys.stderr.writelines(log_path.read_text().splitlines(keepends=True)[-40:])
        raise SystemExit(f"colcon build failed (exit {rc}); full log: {log_path}")
    _write_json(stamp_path, {"env": env_key, "packages": wanted,
                             "hash": hashlib.sha256(json.dumps([env_key, wanted], sort_keys=True).encode())
                             .hexdigest()[:16]})
    log(f"  colcon: {time.monotonic() - t0:.1f} s")


def _build_env_hash(build_hash: str, requirements: Path) -> str:
    """What the colcon-built packages are built against: the ROS wheels (BUILD_HASH from setup.sh), the extra
    requirements, this Python and numpy (whose headers the generated Python extensions use)."""
    parts = [build_hash, requirements.read_text(), sys.version, importlib.metadata.version("numpy")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def cmd_sync(args: argparse.Namespace) -> None:
    venv, base = args.venv.resolve(), args.base.resolve()
    remembered = base / "sources.txt"
    manifest_path = venv / PIP_MANIFEST
    manifest = _read_json(manifest_path)
    if args.none:
        recorded = manifest.get("packages", {})
        dists = [r["dist"] for r in recorded.values() if _installed(r["dist"])]
        if dists:
            log(f"uninstalling the extra Python packages: {' '.join(dists)}")
            run(_pip(venv, "uninstall", "-q", "-y", *dists))
        manifest_path.unlink(missing_ok=True)
        if base.exists():
            log(f"removing {base}")
            shutil.rmtree(base)
        return
    if args.dirs:
        roots = [Path(d).resolve() for d in args.dirs]
    elif remembered.is_file():
        roots = [Path(line) for line in remembered.read_text().splitlines() if line.strip()]
    else:
        return
    absent = [str(r) for r in roots if not r.is_dir()]
    if absent:
        if args.dirs:
            raise SystemExit(f"--ros-sources: not a folder: {' '.join(absent)}")
        log(f"extra ROS sources {' '.join(absent)} are gone: keeping what was built from them "
            "(bash tools/setup.sh --ros-sources none removes it)")
        return
    t0 = time.monotonic()
    packages = discover(roots)
    python = [p for p in packages if p.kind == "python"]
    cmake = [p for p in packages if p.kind == "cmake"]
    base.mkdir(parents=True, exist_ok=True)
    remembered.write_text("".join(f"{r}\n" for r in roots))
    if packages:
        sync_requirements(venv, base, args.requirements, args.deps_hash, manifest, args.constraint)
        _write_json(manifest_path, manifest)
    try:
        sync_python(venv, base, python, manifest)
    finally:
        _write_json(manifest_path, manifest)
    sync_cmake(venv, base, cmake, "-".join([BUILD_VERSION, _build_env_hash(args.build_hash, args.requirements)]))
    log(f"extra ROS packages up to date ({len(python)} Python, {len(cmake)} colcon) from {' '.join(map(str, roots))}"
        f" [{time.monotonic() - t0:.1f} s]")


def cmd_depends_hash(args: argparse.Namespace) -> None:
    stamp = _read_json(args.base.resolve() / "install" / COLCON_STAMP)
    if not stamp:
        return
    root = ET.parse(args.package_xml).getroot()
    depends = {(e.text or "").strip() for e in root if e.tag.endswith("depend")}
    if depends & set(stamp.get("packages", {})):
        print(stamp["hash"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync")
    sync.add_argument("--venv", type=Path, required=True)
    sync.add_argument("--base", type=Path, required=True)
    sync.add_argument("--deps-hash", default="", help="hash of the venv's pinned packages (setup.sh's deps_hash)")
    sync.add_argument("--build-hash", default="", help="hash of what the colcon builds depend on in the venv")
    sync.add_argument("--requirements", type=Path, default=Path(__file__).with_name("requirements-ros-extra.txt"))
    sync.add_argument("--constraint", type=Path, action="append", default=[])
    sync.add_argument("--none", action="store_true")
    sync.add_argument("dirs", nargs="*")
    dep = sub.add_parser("depends-hash")
    dep.add_argument("--base", type=Path, required=True)
    dep.add_argument("package_xml", type=Path)
    args = parser.parse_args()
    try:
        {"sync": cmd_sync, "depends-hash": cmd_depends_hash}[args.command](args)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"failed (exit {exc.returncode}): {' '.join(map(str, exc.cmd))}") from None


if __name__ == "__main__":
    main()
