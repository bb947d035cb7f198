"""Publish a bag's topics live: `Replayer`, an rclpy node that plays a bag in its own thread.

Playback runs in a thread of its own rather than in executor callbacks so that its timing does not depend on
how busy the executor is (a process may spin the replayer beside perception in one MultiThreadedExecutor); the
node itself only owns the publishers. Messages are published as the raw CDR bytes stored in the bag, after a
check that they deserialise with the bag's message type: a malformed message is skipped and counted, never sent
to subscribers that would fail on it.

Starting: unless `wait_subscribers` is 0, playback waits until the replayed topics have at least
`wait_subscribers` matched subscriptions in total AND every subscription the ROS graph already knows of on
those topics is matched (discovery announces a subscriber before its endpoints match, so the first condition
alone could start while a second subscriber is still matching). After `wait_timeout` seconds it starts anyway
and logs which topics still miss subscribers (an unmatched but known subscriber usually means incompatible QoS).

QoS per topic: the profile the bag recorded as offered (merge_ros.io.bags.adapt_offered_qos), else reliable
depth 10, TRANSIENT_LOCAL for the ground-import's latched topics (/registry/*, /ground_truth). Best-effort topics
(camera frames) lose messages when a subscriber falls behind, which at `rate` 0 is the rule (measured: 100-180 of 300
frames of 120 kB reached a depth-100 subscriber). `reliable` publishes the volatile topics reliable with KEEP_ALL
history instead: a reliable KEEP_ALL subscriber (the Recorder uses one for reliable offers) then gets every
message, the replay slowing to its pace through DDS flow control; best-effort subscribers still match. At the
end, `done` waits (up to `ack_timeout`) until reliable subscribers have acknowledged every message, so a
process that exits then does not take undelivered messages with it.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock

from merge_ros.io.bags import (
    DEFAULT_DEPTH,
    MAX_LATCHED_DEPTH,
    BagError,
    BagMessage,
    BagReader,
    TopicQos,
    adapt_offered_qos,
)
from merge_ros.ros.conversions import ns_to_time
from merge_ros.topics import LATCHED_TOPICS

log = logging.getLogger(__name__)

CLOCK_TOPIC = "/clock"
CLOCK_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # as rclcpp's ClockQoS
_POLL_S = 0.05


@dataclass(frozen=True)
class ReplayOptions:
    rate: float = 1.0  # bag seconds per wall second; 0 = as fast as possible, still in order
    topics: Sequence[str] = ()  # bag topics to replay; empty = all
    remap: Mapping[str, str] = field(default_factory=dict)  # bag topic -> published topic
    clock: bool = False  # publish rosgraph_msgs/Clock with the bag time on /clock
    clock_hz: float = 40.0  # /clock rate while waiting between messages (rosbag2's default)
    wait_subscribers: int = 1  # matched subscriptions (all topics together) to wait for; 0 = start at once
    wait_timeout: float = 10.0  # seconds to wait for them before starting anyway (inf = forever)
    reliable: bool = False  # publish volatile topics reliable KEEP_ALL: lossless into reliable subscribers
    ack_timeout: float = 5.0  # at the end, wait this long for reliable subscribers to acknowledge everything

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError(f"rate must be >= 0 (0 = as fast as possible), got {self.rate}")
        if self.clock_hz <= 0:
            raise ValueError(f"clock_hz must be > 0, got {self.clock_hz}")
        if self.wait_subscribers < 0 or self.wait_timeout < 0 or self.ack_timeout < 0:
            raise ValueError("wait_subscribers, wait_timeout and ack_timeout must be >= 0")


@dataclass
class _Topic:
    name: str  # in the bag
    msgtype: str
    cls: type
    publisher: Publisher


def message_class(msgtype: str) -> type:
    """The generated Python class of "pkg/msg/Type" (or "pkg/Type"); BagError when it is not importable."""
    parts = msgtype.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise BagError(f"malformed message type name {msgtype!r}")
    pkg, sub, name = (parts[0], "msg", parts[1]) if len(parts) == 2 else parts
    try:
        return getattr(importlib.import_module(f"{pkg}.{sub}"), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f"message type {msgtype} is not available here ({exc}); build or source its package") from exc


def qos_profile(qos: TopicQos) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_ALL if qos.keep_all else HistoryPolicy.KEEP_LAST, depth=qos.depth,
        reliability=ReliabilityPolicy.RELIABLE if qos.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if qos.transient_local else DurabilityPolicy.VOLATILE,
    )


def default_qos(topic: str, count: int) -> TopicQos:
    """The QoS for a topic the bag recorded no profile for."""
    if topic in LATCHED_TOPICS:
        return TopicQos(transient_local=True, depth=min(max(count, DEFAULT_DEPTH), MAX_LATCHED_DEPTH))
    return TopicQos()


def _absolute(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic


class Replayer(Node):
    """Plays one bag: construct (opens the bag, creates publishers), `start()`, then watch `done`.

    `published` and `malformed` count messages per bag topic; `skipped_topics` names topics that could not be
    replayed (type not importable) with the reason; `error` holds an exception that ended playback early.
    """

    def __init__(self, bag: Path | str, options: ReplayOptions | None = None, node_name: str = "merge_replay",
                 **kwargs):
        super().__init__(node_name, **kwargs)
        self.bag = Path(bag)
        self.options = options or ReplayOptions()
        self.published: dict[str, int] = {}
        self.malformed: dict[str, int] = {}
        self.skipped_topics: dict[str, str] = {}
        self.error: BaseException | None = None
        self.waited_s = 0.0
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._topics = self._create_publishers()
        except BagError:
            super().destroy_node()
            raise
        self._clock = self.create_publisher(Clock, CLOCK_TOPIC, CLOCK_QOS) if self.options.clock else None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def total_published(self) -> int:
        return sum(self.published.values())

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("replay already started")
        self._thread = threading.Thread(target=self._run, name=f"replay {self.bag.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop playback (idempotent) and wait up to timeout seconds for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()

    def _create_publishers(self) -> dict[tuple[str, str], _Topic]:
        with BagReader(self.bag) as reader:
            available = reader.topics()
        wanted = {_absolute(t) for t in self.options.topics}
        if missing := wanted - {t.name for t in available}:
            raise BagError(f"{self.bag}: no topic {', '.join(sorted(missing))} in the bag "
                           f"(it has {', '.join(sorted(t.name for t in available))})")
        remap = {_absolute(k): v for k, v in self.options.remap.items()}
        out: dict[tuple[str, str], _Topic] = {}
        for topic in available:
            if wanted and topic.name not in wanted:
                continue
            try:
                cls = message_class(topic.msgtype)
            except BagError as exc:
                self.skipped_topics[topic.name] = str(exc)
                self.get_logger().error(f"not replaying {topic.name}: {exc}")
                continue
            qos = adapt_offered_qos(topic.offered, topic.count) or default_qos(topic.name, topic.count)
            if self.options.reliable and not qos.transient_local:  # latched topics keep every message anyway
                qos = replace(qos, reliable=True, keep_all=True)
            publisher = self.create_publisher(cls, remap.get(topic.name, topic.name), qos_profile(qos))
            out[(topic.name, topic.msgtype)] = _Topic(topic.name, topic.msgtype, cls, publisher)
            self.published[topic.name] = 0
            self.malformed[topic.name] = 0
        if not out:
            raise BagError(f"{self.bag}: nothing to replay")
        return out

    def _run(self) -> None:
        try:
            self._wait_for_subscribers()
            if not self._stop.is_set():
                self._play()
            self._wait_for_acks()
        except Exception as exc:  # the context may be shut down under us (SIGINT); report, never hang
            self.error = exc
            if not self._stop.is_set():
                log.exception("replay of %s failed", self.bag)
        finally:
            self._done.set()

    def _subscription_counts(self) -> tuple[int, int, list[str]]:
        """(matched subscriptions, subscriptions the graph knows, published topics with a known one unmatched)."""
        matched = known = 0
        short = []
        for topic in self._topics.values():
            m = topic.publisher.get_subscription_count()
            k = self.count_subscribers(topic.publisher.topic_name)
            matched, known = matched + m, known + k
            if k > m or m == 0:
                short.append(topic.publisher.topic_name)
        return matched, known, short

    def _wait_for_subscribers(self) -> None:
        need = self.options.wait_subscribers
        if need == 0:
            return
        start = time.monotonic()
        ready_polls = 0
        while not self._stop.is_set():
            matched, known, short = self._subscription_counts()
            ready_polls = ready_polls + 1 if matched >= need and matched >= known else 0
            self.waited_s = time.monotonic() - start
            if ready_polls >= 2:  # two polls in a row: a subscriber discovered meanwhile gets its chance to match
                return
            if self.waited_s >= self.options.wait_timeout:
                self.get_logger().warning(
                    f"starting after {self.waited_s:.1f} s with {matched} matched subscription(s) ({need} wanted, "
                    f"{known} known to the graph); topics with no or unmatched subscribers: {', '.join(short)}")
                return
            self._stop.wait(_POLL_S)

    def _wait_for_acks(self) -> None:
        """Hold `done` until reliable subscribers have every message: a process that exits right after the last
        publish would otherwise take undelivered samples with it."""
        deadline = time.monotonic() + self.options.ack_timeout
        for topic in self._topics.values():
            while not self._stop.is_set():
                if topic.publisher.wait_for_all_acked(Duration(seconds=min(_POLL_S, self.options.ack_timeout))):
                    break
                if time.monotonic() >= deadline:
                    self.get_logger().warning(f"{topic.publisher.topic_name}: not every message was acknowledged "
                                              f"within {self.options.ack_timeout:g} s")
                    return

    def _play(self) -> None:
        rate = self.options.rate
        first_ns = None
        wall0 = 0.0
        with BagReader(self.bag) as reader:
            for msg in reader.messages({name for name, _ in self._topics}):
                topic = self._topics.get((msg.topic, msg.msgtype))
                if topic is None:
                    continue
                if first_ns is None:
                    first_ns, wall0 = msg.timestamp_ns, time.monotonic()
                if rate > 0:
                    self._sleep_until(wall0 + (msg.timestamp_ns - first_ns) / 1e9 / rate, first_ns, wall0)
                if self._stop.is_set():
                    return
                self._publish(topic, msg)

    def _publish(self, topic: _Topic, msg: BagMessage) -> None:
        try:
            deserialize_message(msg.data, topic.cls)
        except Exception as exc:  # rclpy raises its RMWError (a RuntimeError) or others on bad CDR
            self.malformed[topic.name] += 1
            if self.malformed[topic.name] == 1:
                self.get_logger().warning(f"skipping malformed message on {topic.name} at {msg.timestamp_ns}: {exc}")
            return
        if self._clock is not None:
            self._clock.publish(Clock(clock=ns_to_time(msg.timestamp_ns)))
        topic.publisher.publish(msg.data)
        self.published[topic.name] += 1

    def _sleep_until(self, due: float, first_ns: int, wall0: float) -> None:
        """Wait until wall time `due`, publishing the bag's clock at clock_hz meanwhile when asked to."""
        period = 1.0 / self.options.clock_hz
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= due:
                return
            if self._clock is None:
                self._stop.wait(due - now)
                continue
            bag_ns = first_ns + int((now - wall0) * self.options.rate * 1e9)
            self._clock.publish(Clock(clock=ns_to_time(bag_ns)))
            self._stop.wait(min(period, due - now))
