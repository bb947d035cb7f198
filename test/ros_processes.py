"""Helpers of the tests that run real ROS 2 processes (nodes, `ros2 launch`, the `ros2` command line).

Each process starts the way a terminal starts it: in its own process group, with SIGINT at its default. A plain
background process started from a script has SIGINT ignored (POSIX shells do that without job control, and an
ignored signal stays ignored across exec), so a harness that does not reset it sends Ctrl-C into the void;
signals are then sent to the whole group, as a terminal's Ctrl-C is. Every test gets its own ROS_DOMAIN_ID
(processes of a test that just ended may linger in discovery for seconds), DDS on localhost, ROS_HOME and the
logs in its tmp folder; process groups are always killed at the end.
"""
from __future__ import annotations

import filecmp
import importlib.util
import itertools
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# exec the command with SIGINT at its default disposition (whatever the test runner was started with)
_SHIM = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"
_domains = itertools.count()


def ros_tools_missing() -> str | None:
    """Why the real ROS 2 tools cannot be used here (None: they can): ros2 launch and the ros2 CLI are not on
    PyPI; tools/setup.sh --ros-sources ../shared/ros2-jazzy builds them."""
    if shutil.which("ros2") is None:
        return "no `ros2` command (build it: bash tools/setup.sh --ros-sources ../shared/ros2-jazzy)"
    for module in ("launch", "launch_ros", "ros2launch", "ros2lifecycle", "ros2param", "ros2service"):
        if importlib.util.find_spec(module) is None:
            return f"no {module} (build it: bash tools/setup.sh --ros-sources ../shared/ros2-jazzy)"
    if not (ROOT / "install" / "merge_ros" / "share" / "merge_ros" / "launch").is_dir():
        return "merge_ros is not built into install/ (bash tools/setup.sh)"
    return None


def stale_install() -> str | None:
    """The installed launch/config files are copies made by colcon: which differ from the checkout's (None: all
    current), so that a test never runs an old launch file."""
    share = ROOT / "install" / "merge_ros" / "share" / "merge_ros"
    stale = [f"{folder}/{f.name}" for folder in ("launch", "config") for f in sorted((ROOT / folder).iterdir())
             if f.is_file() and not _same_file(f, share / folder / f.name)]
    return f"install/ holds old copies of {', '.join(stale)}: rebuild it (colcon, as tools/setup.sh does)" if stale \
        else None


def _same_file(a: Path, b: Path) -> bool:
    return b.is_file() and filecmp.cmp(a, b, shallow=False)


def fresh_domain() -> int:
    """A ROS domain ID of this test only: not the session's (conftest) and different for every call."""
    session = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    rng = random.Random(os.getpid() * 1000 + next(_domains))
    while (domain := rng.randint(1, 200)) == session:
        pass
    return domain


def ros_env(tmp_path: Path, domain: int) -> dict[str, str]:
    """The environment of a test's processes: its domain, localhost discovery, ROS_HOME and logs in tmp."""
    home = tmp_path / "ros_home"
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "ROS_HOME": str(home), "ROS_LOG_DIR": str(home / "log"), "PYTHONUNBUFFERED": "1",
            "RCUTILS_COLORIZED_OUTPUT": "0", "HF_HUB_OFFLINE": "1"}


class Process:
    """One command in its own process group (SIGINT at default), stdout and stderr collected by a thread."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path | None = None):
        self.cmd = cmd
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, "-c", _SHIM, *cmd], env=env, cwd=cwd, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._lock:
                self._lines.append(line)

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first match of the regex in the output; AssertionError (with the output) if none within timeout or
        if the process ends without it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            if self.proc.poll() is not None:
                self._reader.join(timeout=5.0)
                if match := re.search(pattern, self.output):
                    return match
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not in the output of {shlex.join(self.cmd)} "
                             f"(exit code {self.proc.poll()}):\n{self.output[-6000:]}")

    def send(self, *signals: signal.Signals, gap_s: float = 0.005) -> None:
        """Send the signals to the process group, gap_s apart (a terminal's Ctrl-C, then ros2 launch's own)."""
        for k, sig in enumerate(signals):
            if k:
                time.sleep(gap_s)
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, sig)

    def hammer(self, sig: signal.Signals, period_s: float, timeout: float) -> int:
        """Send sig to the group every period_s until the process ends (a user pressing Ctrl-C over and over,
        which reaches every phase of its shutdown); its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(period_s)
        return self.wait(timeout=max(1.0, deadline - time.monotonic()))

    def wait(self, timeout: float) -> int:
        """The exit code once the process and its output have ended."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10.0)
        return code

    def kill(self) -> None:
        """SIGKILL the whole group (children included) if anything of it still runs."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10.0)
        self._reader.join(timeout=5.0)


@contextmanager
def started(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[Process]:
    """A Process whose group is killed when the block ends, however it ends."""
    process = Process(cmd, env, cwd)
    try:
        yield process
    finally:
        process.kill()


def ros2(command: str, env: dict[str, str], timeout: float = 30.0, cwd: Path | None = None,
         ) -> subprocess.CompletedProcess:
    """Run a `ros2 ...` command line (as a shell would split it) to its end; output as text."""
    return subprocess.run(shlex.split(command), env=env, cwd=cwd, text=True, capture_output=True, timeout=timeout,
                          check=False)


def ros2_until(command: str, env: dict[str, str], done: Callable[[subprocess.CompletedProcess], bool],
               timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Re-run a ros2 command until done(result): discovery between processes takes 0.05-3 s, so a query may not
    see everything the first time. AssertionError with the last output if it never is."""
    deadline = time.monotonic() + timeout
    while True:
        result = ros2(command, env, timeout=max(5.0, deadline - time.monotonic()))
        if done(result):
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{command}: exit code {result.returncode}\n{result.stdout}\n{result.stderr}")
        time.sleep(0.2)


def stop_daemon(env: dict[str, str]) -> None:
    """Stop the `ros2 daemon` that `ros2 node list` and friends start on the test's domain."""
    ros2("ros2 daemon stop", env, timeout=30.0)
