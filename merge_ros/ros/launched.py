"""Frame -> confirmed event latency over the launched graph: the four nodes as separate processes under
`ros2 launch merge_ros merge.launch.py`, as on a robot, next to `merge-ros bench graph`'s one-process figure.

The graph runs the annotations detector on a (synthetic) scene folder, so no model is downloaded; this process
replays the scene's bag at its own rate onto the camera topic, best effort as a live camera publishes (perception
keeps only the newest frame), and takes the latency of each confirmed event as the time from the arrival of the
frame it is stamped with (on a subscription of this process) to the event's arrival. The bag plays once
perception_node reports `active` (its models loaded) and every camera subscription has matched; at the end the
launch gets one SIGINT to its process group, as a terminal's Ctrl-C, and its exit code is reported.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from lifecycle_msgs.srv import GetState
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage

from merge_ros.io.scene_folder import SceneFolder
from merge_ros.ros import conversions
from merge_ros.ros.graph import EventSink, last_frame_stamp, spin_in_background
from merge_ros.ros.qos import IMAGE_QOS
from merge_ros.ros.replay import Replayer, ReplayOptions
from merge_ros.topics import BAG_IMAGE_TOPIC
from merge_ros.types import Event

CAMERA_TOPIC = BAG_IMAGE_TOPIC.removesuffix("/compressed")
# exec the command with SIGINT at its default disposition, whatever this process was started with
_SHIM = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"


class LaunchUnavailable(RuntimeError):
    """`ros2 launch` (or the installed package) is not there: nothing was measured."""


@dataclass
class LaunchedLatency:
    latencies: list[float] = field(default_factory=list)  # seconds, one per confirmed event stamped with a frame
    events: int = 0
    launch_exit_code: int | None = None
    startup_s: float = 0.0  # from `ros2 launch` to perception_node active (its models loaded)


def measure_launched_latency(scene: SceneFolder, bag: Path, workdir: Path, *, rate: float = 1.0,
                             startup_timeout_s: float = 120.0, settle_s: float = 3.0) -> LaunchedLatency:
    """Launch the graph on scene (annotations detector, no VLM), replay bag into it, return the latencies."""
    if shutil.which("ros2") is None or importlib.util.find_spec("ros2launch") is None:
        raise LaunchUnavailable("no `ros2 launch`: source a ROS 2 install, or build launch_ros and ros2cli "
                                "from their sources with tools/setup.sh --ros-sources DIR")
    result = LaunchedLatency()
    started = time.monotonic()
    launch = _start_launch(scene, workdir)
    context = Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    try:
        probe = _Probe(context)
        executor.add_node(probe)
        executor.add_node(probe.sink)
        spin_in_background(executor, context, "latency probe")
        try:
            probe.wait_active("perception_node", launch, startup_timeout_s)
        except RuntimeError as exc:  # the launch's own output says why; the workdir may be temporary
            tail = "".join((workdir / "launch.log").read_text(errors="replace").splitlines(True)[-20:])
            raise RuntimeError(f"{exc}; the launch's last output:\n{tail}") from None
        replayer = Replayer(bag, ReplayOptions(rate=rate, clock=False, reliable=False, wait_subscribers=4,
                                               wait_timeout=startup_timeout_s), context=context)
        executor.add_node(replayer)
        result.startup_s = time.monotonic() - started
        replayer.start()
        replayer.wait()
        if replayer.error is not None:
            raise replayer.error
        probe.wait_drained(last_frame_stamp(bag), timeout=60.0)
        time.sleep(settle_s)  # grounding confirms what is pending once the stream has been idle stream_idle_s
        result.latencies, result.events = probe.latencies(), len(probe.sink.events)
    finally:
        executor.shutdown(timeout_sec=5.0)
        rclpy.try_shutdown(context=context)
        result.launch_exit_code = _stop_launch(launch)
    return result


def _start_launch(scene: SceneFolder, workdir: Path) -> subprocess.Popen:
    """`ros2 launch` in its own process group (SIGINT at default, as a terminal starts it), output to a log."""
    log = (workdir / "launch.log").open("w")
    cmd = ["ros2", "launch", "merge_ros", "merge.launch.py", "detector:=annotations", f"scene_dir:={scene.root}",
           f"camera_topic:={CAMERA_TOPIC}", "compressed:=true", "rviz:=false",
           f"journal_path:={workdir / 'launched_journal.jsonl'}"]
    return subprocess.Popen([sys.executable, "-c", _SHIM, *cmd], stdout=log, stderr=subprocess.STDOUT,
                            process_group=0)


def _stop_launch(launch: subprocess.Popen, timeout_s: float = 30.0) -> int:
    """One SIGINT to the group (launch then stops its nodes); SIGKILL if it is not gone in time."""
    if launch.poll() is None:
        os.killpg(launch.pid, signal.SIGINT)
    try:
        return launch.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(launch.pid, signal.SIGKILL)
        return launch.wait()


class _Probe(Node):
    """Frame arrivals and confirmed events, as the one-process benchmark takes them, plus perception's state."""

    def __init__(self, context: Context):
        super().__init__("merge_latency_probe", context=context)
        self.sink = EventSink(self._on_event, context=context)
        self._arrivals: dict[int, float] = {}
        self._latencies: list[float] = []
        self._lock = threading.Lock()
        self.create_subscription(CompressedImage, BAG_IMAGE_TOPIC, self._on_frame, IMAGE_QOS)

    def _on_frame(self, msg: CompressedImage) -> None:
        with self._lock:
            self._arrivals[conversions.time_to_ns(msg.header.stamp)] = time.monotonic()

    def _on_event(self, event: Event) -> None:
        now = time.monotonic()
        with self._lock:
            if event.stamp_ns in self._arrivals:
                self._latencies.append(now - self._arrivals[event.stamp_ns])

    def latencies(self) -> list[float]:
        with self._lock:
            return list(self._latencies)

    def wait_active(self, node: str, launch: subprocess.Popen, timeout: float, request_timeout: float = 3.0) -> None:
        """Until node's lifecycle state is active (its models loaded); RuntimeError if the launch ends first."""
        client = self.create_client(GetState, f"/{node}/get_state")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if launch.poll() is not None:
                raise RuntimeError(f"ros2 launch ended (exit code {launch.returncode}) before {node} was active")
            if client.wait_for_service(timeout_sec=0.5):
                # a request sent the moment the service shows up can be lost (the server's reply writer has not
                # matched this client yet): each request gets a few seconds, then it is dropped and sent again
                future = client.call_async(GetState.Request())
                answer_by = min(deadline, time.monotonic() + request_timeout)
                while not future.done() and time.monotonic() < answer_by:
                    time.sleep(0.05)
                if not future.done():
                    client.remove_pending_request(future)
                elif future.result().current_state.label == "active":
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{node} was not active within {timeout:.0f} s")

    def wait_drained(self, last_stamp_ns: int, timeout: float) -> None:
        """Until perception has published the entities of the bag's last frame (or timeout: it dropped it)."""
        deadline = time.monotonic() + timeout
        while self.sink.last_entities_ns < last_stamp_ns and time.monotonic() < deadline:
            time.sleep(0.1)
