"""The whole MERGE graph in one process: the same four nodes that launch/merge.launch.py starts, with the same
parameter file, spun by one multi-threaded executor. For machines without `ros2 launch`, for the demo and for
end-to-end tests; the nodes still talk over DDS, exactly as in separate processes.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.exceptions import ParameterException
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from merge_ros.config import NODE_NAMES, config_path
from merge_ros.io.bags import BagError, BagReader, header_stamp_ns
from merge_ros.msg import EntityArray
from merge_ros.msg import Event as EventMsg
from merge_ros.ros import conversions
from merge_ros.ros.entry import EXIT_BAD_PARAMETER, stop_on_signals
from merge_ros.ros.qos import IMAGE_QOS, STREAM_QOS
from merge_ros.ros.replay import Replayer, ReplayOptions
from merge_ros.ros.video import VideoError, VideoInput, VideoOptions, VideoPublisher
from merge_ros.topics import (
    BAG_CAMERA_INFO_TOPIC,
    BAG_DEPTH_TOPIC,
    BAG_IMAGE_TOPIC,
    CAMERA_INFO,
    DEPTH_IMAGE,
    ENTITIES,
    EVENTS,
    IMAGE_COMPRESSED,
)
from merge_ros.types import Event

LOG = logging.getLogger(__name__)


def node_classes() -> dict[str, type[Node]]:
    """Imported on demand: the perception node pulls in torch and ultralytics."""
    from merge_ros.ros.event_node import EventNode
    from merge_ros.ros.grounding_node import GroundingNode
    from merge_ros.ros.perception_node import PerceptionNode
    from merge_ros.ros.vlm_node import VlmNode

    return {"perception_node": PerceptionNode, "event_node": EventNode, "vlm_node": VlmNode,
            "grounding_node": GroundingNode}


class EventSink(Node):
    """Subscribes to the confirmed events and hands each to a callback as it arrives (printing, collecting);
    also follows the entity stream's latest stamp, so a caller can tell when perception has caught up."""

    def __init__(self, on_event: Callable[[Event], None], topic: str = EVENTS, **kwargs):
        super().__init__("merge_event_sink", **kwargs)
        self.events: list[Event] = []
        self.last_entities_ns = 0
        self._lock = threading.Lock()
        self._on_event = on_event
        self.create_subscription(EventMsg, topic, self._receive, STREAM_QOS)
        self.create_subscription(EntityArray, ENTITIES, self._entities, STREAM_QOS)

    def _entities(self, msg: EntityArray) -> None:
        self.last_entities_ns = max(self.last_entities_ns, conversions.time_to_ns(msg.header.stamp))

    def _receive(self, msg: EventMsg) -> None:
        event = conversions.event_from_msg(msg)
        with self._lock:
            self.events.append(event)
        self._on_event(event)


class NodeStartError(RuntimeError):
    """A node of the graph cannot start (a bad parameter, a model that does not load); str() names the node."""

    def __init__(self, node: str, problem: BaseException):
        super().__init__(f"{node}: {problem}")
        self.node = node


class Graph:
    """The four nodes in one rclpy context: parameters from the file (passed as `--params-file`, as `ros2
    launch` does) and per-node overrides on top. rclpy installs no signal handler of its own: the caller decides
    what SIGINT means (merge-ros run: stop in order)."""

    def __init__(self, config: Path | str | None = None,
                 overrides: Mapping[str, Mapping[str, Any]] | None = None, namespace: str = "",
                 nodes: tuple[str, ...] = NODE_NAMES):
        from merge_ros.reasoning.backends import BackendLoadError

        self.context = Context()
        rclpy.init(args=["merge-ros", "--ros-args", "--params-file", str(config_path(config))],
                   context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        overrides = overrides or {}
        classes = node_classes()
        self.executor = MultiThreadedExecutor(num_threads=6, context=self.context)
        self.nodes: dict[str, Node] = {}
        self._thread: threading.Thread | None = None
        try:
            for name in nodes:
                try:
                    node = classes[name](context=self.context, namespace=namespace,
                                         parameter_overrides=[Parameter(k, value=v) for k, v in
                                                              overrides.get(name, {}).items()])
                except (ValueError, ParameterException, BackendLoadError) as exc:  # ParameterError is a ValueError
                    raise NodeStartError(name, exc) from exc
                self.add(name, node)
        except BaseException:
            self.shutdown()
            raise

    def add(self, name: str, node: Node) -> Node:
        self.nodes[name] = node
        self.executor.add_node(node)
        return node

    def wait_connected(self, timeout: float = 15.0) -> bool:
        """Wait until every publisher of the graph's nodes has matched every subscription to its topic among them
        (Fast DDS discovery takes from 0.05 s to seconds): otherwise the first messages of a replay may be lost
        between the nodes. Call after start(); returns whether all matched in time."""
        wanted: dict[str, int] = {}
        for node in self.nodes.values():
            for sub in node.subscriptions:
                wanted[sub.topic_name] = wanted.get(sub.topic_name, 0) + 1
        publishers = [p for node in self.nodes.values() for p in node.publishers if p.topic_name in wanted]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() >= wanted[p.topic_name] for p in publishers):
                return True
            time.sleep(0.05)
        return False

    def start(self) -> None:
        """Spin in a background thread (the caller keeps its own thread for waiting and printing)."""
        self._thread = spin_in_background(self.executor, self.context, "merge graph")

    def shutdown(self) -> None:
        """Stop spinning first, then destroy the nodes: a node destroyed under a waiting executor breaks it."""
        self.executor.shutdown(timeout_sec=5.0)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for node in reversed(list(self.nodes.values())):
            node.destroy_node()
        self.nodes.clear()
        rclpy.try_shutdown(context=self.context)


def spin_in_background(executor: MultiThreadedExecutor, context: Context, name: str) -> threading.Thread:
    """A daemon thread spinning executor until context is shut down (then the executor's error is the normal way
    out, and is swallowed; any other is raised in that thread)."""
    def spin() -> None:
        try:
            executor.spin()
        except Exception:
            if context.ok():
                raise

    thread = threading.Thread(target=spin, name=name, daemon=True)
    thread.start()
    return thread


def bag_remap(namespace: str = "", camera_topic: str = BAG_IMAGE_TOPIC) -> dict[str, str]:
    """A recording's camera topics (merge-ros import-ground names them as a driver would) -> the graph's in
    namespace: the images, the aligned depth images and the CameraInfo."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return {camera_topic: f"{ns}/{IMAGE_COMPRESSED}", BAG_DEPTH_TOPIC: f"{ns}/{DEPTH_IMAGE}",
            BAG_CAMERA_INFO_TOPIC: f"{ns}/{CAMERA_INFO}"}


def camera_subscriptions(config: Path | str | None, overrides: Mapping[str, Mapping[str, Any]]) -> int:
    """How many subscriptions of the graph's nodes a camera (or its recording) must match before it starts:
    three to the image (perception, events, grounding), and perception's depth image and camera_info with
    use_depth."""
    from merge_ros.offline import merged_sections

    use_depth = merged_sections(config, overrides).get("perception_node", {}).get("use_depth", False)
    return 3 + (2 if use_depth is True else 0)


def last_frame_stamp(bag: Path) -> int:
    """Header stamp of the bag's last camera frame (0 if it has none)."""
    with BagReader(bag) as reader:
        return max((header_stamp_ns(m.msgtype, m.data) or 0 for m in reader.messages([BAG_IMAGE_TOPIC])),
                   default=0)


def replay_into_graph(bag: Path, overrides: Mapping[str, Mapping[str, Any]], rate: float,
                      config: Path | str | None = None, on_event: Callable[[Event], None] = lambda e: None,
                      settle_s: float = 4.0, drain_timeout_s: float = 60.0,
                      on_frame: Callable[[Any], None] | None = None) -> list[Event]:
    """Replay bag into the four nodes over DDS (its camera frames onto image/compressed); return the confirmed
    events in the order they were published. on_frame, if given, sees every camera frame as the graph does."""
    graph = Graph(config, overrides)
    try:
        sink = graph.add("sink", EventSink(on_event, context=graph.context))
        if on_frame is not None:
            from sensor_msgs.msg import CompressedImage

            sink.create_subscription(CompressedImage, IMAGE_COMPRESSED, on_frame, IMAGE_QOS)
        graph.start()
        if not graph.wait_connected():
            LOG.warning("not every node of the graph matched its peers in time")
        reliable = overrides.get("perception_node", {}).get("reliable_images", False)
        replayer = graph.add("replay", Replayer(bag, ReplayOptions(
            rate=rate, remap=bag_remap(), clock=False, wait_subscribers=camera_subscriptions(config, overrides) + (
                on_frame is not None), reliable=reliable), context=graph.context))
        replayer.start()
        replayer.wait()
        if replayer.error is not None:
            raise replayer.error
        # Perception may still be working through queued frames: wait until the last frame's entities are out,
        # then give grounding time to see the stream end (stream_idle_s) and confirm what is pending.
        last = last_frame_stamp(bag)
        deadline = time.monotonic() + drain_timeout_s
        while sink.last_entities_ns < last and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(settle_s)
        return list(sink.events)
    finally:
        graph.shutdown()


def run_graph(config: Path | str | None, overrides: Mapping[str, Mapping[str, Any]], namespace: str = "", *,
              bag: Path | None = None, rate: float = 1.0, camera_topic: str = BAG_IMAGE_TOPIC,
              exit_after_bag: bool = False, settle_s: float = 4.0, video: VideoOptions | None = None) -> int:
    """`merge-ros run`: the graph until SIGINT or SIGTERM, or (exit_after_bag) until a replayed bag or a video
    file has played.

    A node that cannot start (its model does not load, its scene folder is missing), an unreadable bag or video
    is named in one line on stderr, with exit code 2, instead of a traceback. After the first signal the graph
    stops in order and later ones are ignored (a terminal's Ctrl-C and launch's both arrive).
    """
    overrides = {node: dict(values) for node, values in overrides.items()}
    if bag is not None or video is not None:
        compressed = bag is not None or video.compressed
        for node in ("perception_node", "event_node", "grounding_node"):
            overrides.setdefault(node, {}).setdefault("compressed", compressed)
    source = None
    if video is not None:
        try:
            source = VideoInput(video)
        except VideoError as exc:
            print(f"merge-ros run: --video: {exc}", file=sys.stderr)
            return EXIT_BAD_PARAMETER
    with stop_on_signals() as stop:
        try:
            graph = Graph(config, overrides, namespace=namespace)
        except NodeStartError as exc:
            print(f"merge-ros run: {exc}", file=sys.stderr)
            if source is not None:
                source.close()
            return EXIT_BAD_PARAMETER
        try:
            replayer = None
            if bag is not None:
                try:
                    replayer = graph.add("replay", Replayer(bag, ReplayOptions(
                        rate=rate, remap=bag_remap(namespace, camera_topic), clock=True,
                        wait_subscribers=camera_subscriptions(config, overrides), reliable=True),
                        context=graph.context))
                except BagError as exc:
                    print(f"merge-ros run: --bag: {exc}", file=sys.stderr)
                    if source is not None:
                        source.close()
                    return EXIT_BAD_PARAMETER
            camera = None if source is None else graph.add(
                "video", VideoPublisher(source, context=graph.context, namespace=namespace))
            graph.start()
            print(f"merge-ros run: {', '.join(graph.nodes)} running; Ctrl-C to stop", flush=True)
            return _play(stop, camera, replayer, exit_after_bag, settle_s)
        finally:
            graph.shutdown()


def _play(stop: threading.Event, camera: VideoPublisher | None, replayer: Replayer | None, exit_after: bool,
          settle_s: float) -> int:
    """Play the video or the bag into the started graph, then run until stop (or, exit_after, settle_s more)."""
    try:
        if camera is not None:
            camera.start()
            while not stop.is_set() and not camera.wait(0.2):
                pass
            if camera.error is not None:  # not the input's fault: it was opened and read
                print(f"merge-ros run: --video failed: {type(camera.error).__name__}: {camera.error}",
                      file=sys.stderr)
                return 1
            if not stop.is_set():
                print(f"video played: {camera.published} frames", flush=True)
        elif replayer is not None:
            replayer.start()
            while not stop.is_set() and not replayer.wait(0.2):
                pass
            print(f"bag played: {replayer.total_published} messages", flush=True)
        if exit_after and (camera is not None or replayer is not None):
            stop.wait(settle_s)
        else:
            stop.wait()
        return 0
    finally:
        if camera is not None:
            camera.stop()
