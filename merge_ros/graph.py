"""The whole MERGE graph in one process: the same four nodes that launch/merge.launch.py starts, with the same
parameter file, spun by one multi-threaded executor. For machines without `ros2 launch`, for the demo and for
end-to-end tests; the nodes still talk over DDS, exactly as in separate processes.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from merge_ros import conversions as cv
from merge_ros.config import NODE_NAMES, config_path
from merge_ros.msg import EntityArray
from merge_ros.msg import Event as EventMsg
from merge_ros.types import Event

EVENTS_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def node_classes() -> dict[str, type[Node]]:
    """Imported on demand: the perception node pulls in torch and ultralytics."""
    from merge_ros.nodes.event_node import EventNode
    from merge_ros.nodes.grounding_node import GroundingNode
    from merge_ros.nodes.perception_node import PerceptionNode
    from merge_ros.nodes.vlm_node import VlmNode

    return {"perception_node": PerceptionNode, "event_node": EventNode, "vlm_node": VlmNode,
            "grounding_node": GroundingNode}


class EventSink(Node):
    """Subscribes to the confirmed events and hands each to a callback as it arrives (printing, collecting);
    also follows the entity stream's latest stamp, so a caller can tell when perception has caught up."""

    def __init__(self, on_event: Callable[[Event], None], topic: str = "events", **kwargs):
        super().__init__("merge_event_sink", **kwargs)
        self.events: list[Event] = []
        self.last_entities_ns = 0
        self._lock = threading.Lock()
        self._on_event = on_event
        self.create_subscription(EventMsg, topic, self._receive, EVENTS_QOS)
        self.create_subscription(EntityArray, "entities", self._entities, EVENTS_QOS)

    def _entities(self, msg: EntityArray) -> None:
        self.last_entities_ns = max(self.last_entities_ns, cv.time_to_ns(msg.header.stamp))

    def _receive(self, msg: EventMsg) -> None:
        event = cv.event_from_msg(msg)
        with self._lock:
            self.events.append(event)
        self._on_event(event)


class Graph:
    """The four nodes in one rclpy context: parameters from the file (passed as `--params-file`, as `ros2
    launch` does) and per-node overrides on top."""

    def __init__(self, config: Path | str | None = None,
                 overrides: Mapping[str, Mapping[str, Any]] | None = None, namespace: str = "",
                 nodes: tuple[str, ...] = NODE_NAMES):
        self.context = Context()
        rclpy.init(args=["merge-ros", "--ros-args", "--params-file", str(config_path(config))],
                   context=self.context)
        overrides = overrides or {}
        classes = node_classes()
        self.executor = MultiThreadedExecutor(num_threads=6, context=self.context)
        self.nodes: dict[str, Node] = {}
        self._thread: threading.Thread | None = None
        try:
            for name in nodes:
                node = classes[name](context=self.context, namespace=namespace,
                                     parameter_overrides=[Parameter(k, value=v) for k, v in
                                                          overrides.get(name, {}).items()])
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
        self._thread = threading.Thread(target=self._spin, name="merge graph", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # the context was shut down under the executor: the normal way out
            if self.context.ok():
                raise

    def shutdown(self) -> None:
        """Stop spinning first, then destroy the nodes: a node destroyed under a waiting executor breaks it."""
        self.executor.shutdown(timeout_sec=5.0)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for node in reversed(list(self.nodes.values())):
            node.destroy_node()
        self.nodes.clear()
        rclpy.try_shutdown(context=self.context)
