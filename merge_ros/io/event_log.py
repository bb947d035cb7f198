"""Event logs: core Events as JSON lines, and Events read back from rosbag2 bags.

One JSON object per line, in the order the events were produced:

    {"stamp": 1742756707.744288, "stamp_ns": 1742756707744288200, "event_id": "evt-000003",
     "actor_id": "person_1", "action": "place_down", "object_id": "apple_1", "relation": "on",
     "target_id": "plate_2", "robot_interaction": false, "confidence": 0.75, "source": "vlm",
     "trigger_id": "trg-000002", "frame_id": "camera"}

`stamp_ns` is authoritative (a float of seconds cannot hold nanoseconds since 1970 exactly); `stamp` is there
for people and for tools that only want seconds, and is used when `stamp_ns` is absent. Writers append one
line per event and flush it, so a process that dies mid-write leaves at most one torn last line, which the
reader skips and counts instead of refusing the whole journal. The grounding node's journal uses this format.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from merge_ros.types import NS_PER_S, Event, ns_to_seconds, seconds_to_ns

LOG = logging.getLogger(__name__)

EVENT_MSGTYPE = "merge_ros/msg/Event"
DEFAULT_TOPIC = "/events"

_TEXT_FIELDS = ("event_id", "actor_id", "action", "object_id", "relation", "target_id", "source", "trigger_id",
                "frame_id")
_REQUIRED = ("actor_id", "action")


def event_to_json(e: Event) -> dict[str, Any]:
    return {
        "stamp": ns_to_seconds(e.stamp_ns), "stamp_ns": int(e.stamp_ns), "event_id": e.event_id,
        "actor_id": e.actor_id, "action": e.action, "object_id": e.object_id, "relation": e.relation,
        "target_id": e.target_id, "robot_interaction": bool(e.robot_interaction),
        "confidence": float(e.confidence), "source": e.source, "trigger_id": e.trigger_id, "frame_id": e.frame_id,
    }


def event_from_json(d: dict[str, Any]) -> Event:
    """The Event of one log record; ValueError says which field is missing or of the wrong type."""
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    missing = [k for k in _REQUIRED if k not in d]
    if "stamp_ns" not in d and "stamp" not in d:
        missing.append("stamp_ns")
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    texts = {name: d[name] for name in _TEXT_FIELDS if name in d}  # absent ones keep the Event defaults
    for name, value in texts.items():
        if not isinstance(value, str):
            raise ValueError(f"field {name!r} must be a string, got {value!r}")
    robot = d.get("robot_interaction", False)
    if not isinstance(robot, bool):
        raise ValueError(f"field 'robot_interaction' must be true or false, got {robot!r}")
    stamp_ns = d.get("stamp_ns")
    if stamp_ns is None:
        stamp_ns = seconds_to_ns(_number(d, "stamp"))
    elif isinstance(stamp_ns, bool) or not isinstance(stamp_ns, int):
        raise ValueError(f"field 'stamp_ns' must be an integer, got {stamp_ns!r}")
    return Event(stamp_ns=stamp_ns, robot_interaction=robot, confidence=_number(d, "confidence", 1.0), **texts)


def _number(d: dict[str, Any], name: str, default: float | None = None) -> float:
    value = d.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"field {name!r} must be a number, got {value!r}")
    return float(value)


def append_event(fileobj: IO[str], e: Event) -> None:
    """Write one line and flush, so that a reader (or a crash) never sees half of an earlier event."""
    fileobj.write(json.dumps(event_to_json(e)) + "\n")
    fileobj.flush()


def write_events(path: Path | str, events: Iterable[Event]) -> None:
    with Path(path).open("w") as f:
        for e in events:
            append_event(f, e)


@dataclass
class EventLog:
    """What a log file held: its events, and how many torn last lines were skipped (0 or 1)."""

    events: list[Event] = field(default_factory=list)
    torn_lines: int = 0


def read_event_log(path: Path | str) -> EventLog:
    """Parse a JSON-lines event log; a malformed line raises ValueError naming it, unless it is a torn last line.

    A torn line is a last line without its newline that does not parse: what an interrupted append leaves.
    Blank lines are ignored.
    """
    path = Path(path)
    text = path.read_text()
    lines = text.split("\n")
    log = EventLog()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            log.events.append(event_from_json(json.loads(line)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            if lineno == len(lines):  # no newline after it: the writer was interrupted
                log.torn_lines += 1
                LOG.warning("%s:%d: skipped a torn last line (%s)", path, lineno, exc)
                continue
            raise ValueError(f"{path}:{lineno}: malformed event line: {exc}") from exc
    return log


def read_events(path: Path | str) -> list[Event]:
    return read_event_log(path).events


def event_from_bag_message(msg: Any) -> Event:
    """The core Event of a merge_ros/msg/Event as rosbags deserialises it (no rclpy needed)."""
    stamp = msg.header.stamp
    return Event(
        stamp_ns=int(stamp.sec) * NS_PER_S + int(stamp.nanosec), actor_id=msg.actor_id, action=msg.action,
        object_id=msg.object_id, relation=msg.relation, target_id=msg.target_id,
        robot_interaction=bool(msg.robot_interaction), confidence=float(msg.confidence), source=msg.source,
        event_id=msg.event_id, trigger_id=msg.trigger_id, frame_id=msg.header.frame_id,
    )


def read_events_from_bag(path: Path | str, topic: str = DEFAULT_TOPIC) -> list[Event]:
    """Every merge_ros/msg/Event on `topic` of a rosbag2 bag (directory, or a bare .mcap/.db3), in bag order.

    ValueError if the topic holds no Events, naming the topics that do.
    """
    from rosbags.rosbag2 import Reader

    from merge_ros.io.rostypes import typestore

    store = typestore()
    with Reader(Path(path)) as reader:
        event_topics = sorted({c.topic for c in reader.connections if c.msgtype == EVENT_MSGTYPE})
        connections = [c for c in reader.connections if c.topic == topic and c.msgtype == EVENT_MSGTYPE]
        if not connections:
            raise ValueError(f"{path}: no {EVENT_MSGTYPE} messages on {topic!r}; "
                             f"topics with events: {', '.join(event_topics) or 'none'}")
        return [event_from_bag_message(store.deserialize_cdr(raw, conn.msgtype))
                for conn, _, raw in reader.messages(connections=connections)]
