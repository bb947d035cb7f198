"""Record topics to a rosbag2: `Recorder`, an rclpy node writing the raw CDR bytes it receives.

A topic is subscribed once a publisher of it is discovered: its type comes from the ROS graph, and the
subscription's QoS is adapted to what the publishers known at that moment offer (reliable only if all of them
are, TRANSIENT_LOCAL only if all of them are, as rosbag2 does), so that it matches them and still receives
latched data; reliable topics are subscribed with KEEP_ALL history so that a flow-controlled publisher loses
nothing. Those offered profiles go into the bag's metadata, so a replay offers the same QoS. A topic given a type
(`types`) is subscribed at once, before any publisher exists, with the QoS that matches every publisher
(best effort, volatile): nothing is missed at start, at the price of no delivery guarantee.

Bag time is the message's header stamp when asked for (`stamp="header"`, the default) and the message has a
std_msgs/Header first field with a non-zero stamp, else the receive time on the node's clock. Messages go to
the bag through merge_ros.io.bags.QueuedWriter (one writer thread; callbacks may run on any executor thread).
`close()`, which `destroy_node()` calls too, writes what is queued and closes the bag (complete and valid).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from merge_ros.io.bags import BagError, QueuedWriter, TopicQos, adapt_offered_qos, header_stamp_ns
from merge_ros.io.rostypes import typestore
from merge_ros.ros.replay import message_class, qos_profile

STAMP_MODES = ("header", "receive")
# What a subscription created before any publisher is known uses: it matches reliable and best-effort,
# volatile and transient-local publishers alike.
MATCH_ANY = TopicQos(reliable=False, transient_local=False)
_DISCOVERY_PERIOD_S = 0.1


@dataclass(frozen=True)
class RecordOptions:
    topics: Sequence[str]
    types: Mapping[str, str] = field(default_factory=dict)  # topic -> "pkg/msg/Type": subscribe without waiting
    storage: str = "mcap"  # or "sqlite3"
    stamp: str = "header"  # bag time: "header" stamp when present, or "receive" time
    duration: float | None = None  # seconds after construction; None = until stopped
    count: int | None = None  # stop after this many messages (all topics together); None = no limit
    depth: int = 100  # best-effort subscription history: how many messages may wait for the writer

    def __post_init__(self) -> None:
        if not self.topics:
            raise ValueError("no topic to record")
        if unknown := set(self.types) - set(self.topics):
            raise ValueError(f"types given for topics not recorded: {', '.join(sorted(unknown))}")
        if self.stamp not in STAMP_MODES:
            raise ValueError(f"stamp must be one of {STAMP_MODES}, got {self.stamp!r}")
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"duration must be > 0, got {self.duration}")
        if self.count is not None and self.count <= 0:
            raise ValueError(f"count must be > 0, got {self.count}")
        if self.depth <= 0:
            raise ValueError(f"depth must be > 0, got {self.depth}")


def recorded_profile(qos: QoSProfile) -> Qos:
    """An rclpy QoS profile (a publisher's offer from the graph) as the rosbags Qos stored in bag metadata."""
    return Qos(
        history=QosHistory(int(qos.history)), depth=qos.depth, reliability=QosReliability(int(qos.reliability)),
        durability=QosDurability(int(qos.durability)), deadline=_qos_time(qos.deadline),
        lifespan=_qos_time(qos.lifespan), liveliness=QosLiveliness(int(qos.liveliness)),
        liveliness_lease_duration=_qos_time(qos.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(qos.avoid_ros_namespace_conventions),
    )


def _qos_time(duration: Duration) -> QosTime:
    sec, nsec = divmod(duration.nanoseconds, 1_000_000_000)
    return QosTime(sec, nsec)


class Recorder(Node):
    """Records `options.topics` into a new bag at `bag`; spin it, then `close()` (or destroy) when `done`.

    `counts` holds messages written per topic (absolute names), `unrecordable` topics that cannot be
    written with the reason (type unknown to the bag type store, several types on one topic).
    """

    def __init__(self, bag: Path | str, options: RecordOptions, node_name: str = "merge_record", **kwargs):
        super().__init__(node_name, **kwargs)
        self.bag = Path(bag)
        self.options = options
        names = [self.resolve_topic_name(t) for t in options.topics]
        self._given_types = {self.resolve_topic_name(t): v for t, v in options.types.items()}
        self.counts: dict[str, int] = dict.fromkeys(names, 0)
        self.unrecordable: dict[str, str] = {}
        self._pending = set(names)
        self._msgtypes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started = time.monotonic()
        self._closed = False
        try:
            self._writer = QueuedWriter(self.bag, options.storage)
        except BagError:
            super().destroy_node()
            raise
        self._timer = self.create_timer(_DISCOVERY_PERIOD_S, self._tick)
        self._tick()

    @property
    def done(self) -> bool:
        """True once count or duration is reached (or close() was called); nothing more is written then."""
        return self._done.is_set()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def waiting_for(self) -> list[str]:
        """Topics not subscribed yet (no publisher discovered)."""
        return sorted(self._pending)

    def close(self) -> None:
        """Stop writing and close the bag (idempotent); the bag is complete and readable afterwards."""
        with self._lock:
            self._done.set()
            if not self._closed:
                self._writer.close()
                self._closed = True

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()

    def _tick(self) -> None:
        if self._writer.error is not None and not self._done.is_set():
            self.get_logger().error(f"stopping: the bag cannot be written: {self._writer.error}")
            self._done.set()
        if self.options.duration is not None and time.monotonic() - self._started >= self.options.duration:
            self._done.set()
        if self._done.is_set():
            return
        for name in sorted(self._pending):
            publishers = self.get_publishers_info_by_topic(name)
            msgtype = self._given_types.get(name)
            if msgtype is None and not publishers:
                continue
            self._pending.discard(name)
            types = {p.topic_type for p in publishers}
            if msgtype is None and len(types) > 1:
                self._refuse(name, f"publishers disagree on the type: {', '.join(sorted(types))}")
                continue
            try:
                self._subscribe(name, msgtype or types.pop(), [recorded_profile(p.qos_profile) for p in publishers])
            except BagError as exc:
                self._refuse(name, str(exc))

    def _subscribe(self, name: str, msgtype: str, offered: list[Qos]) -> None:
        store = typestore()
        if msgtype not in store.fielddefs:
            raise BagError(f"type {msgtype} is unknown to the bag type store (merge_ros.io.rostypes)")
        cls = message_class(msgtype)
        adapted = adapt_offered_qos(offered) or MATCH_ANY
        qos = TopicQos(adapted.reliable, adapted.transient_local, self.options.depth, keep_all=adapted.reliable)
        with self._lock:
            if self._closed:
                return
            self._writer.add_connection(name, msgtype, offered)
            self._msgtypes[name] = msgtype
        self.create_subscription(cls, name, lambda data, topic=name: self._on_message(topic, data),
                                 qos_profile(qos), raw=True)
        self.get_logger().info(f"recording {name} ({msgtype}, {'reliable' if qos.reliable else 'best effort'}"
                               f"{', transient local' if qos.transient_local else ''})")

    def _refuse(self, name: str, reason: str) -> None:
        self.unrecordable[name] = reason
        self.get_logger().error(f"cannot record {name}: {reason}")

    def _on_message(self, topic: str, data: bytes) -> None:
        received_ns = self.get_clock().now().nanoseconds
        stamp = header_stamp_ns(self._msgtypes[topic], data) if self.options.stamp == "header" else None
        with self._lock:
            if self._done.is_set():
                return
            self._writer.write(topic, stamp if stamp is not None and stamp > 0 else received_ns, data)
            self.counts[topic] += 1
            if self.options.count is not None and self.total >= self.options.count:
                self._done.set()
