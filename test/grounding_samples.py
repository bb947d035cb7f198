"""Small builders for the grounding tests: candidate events and entity frames on a stream clock in seconds."""
from __future__ import annotations

from merge_ros.types import Box, Entity, EntityFrame, EntityKind, Event, Keypoint, seconds_to_ns

T0_NS = 1_700_000_000 * 1_000_000_000


def at(seconds: float) -> int:
    """Stream stamp `seconds` after the start of the test stream."""
    return T0_NS + seconds_to_ns(seconds)


def cand(t: float, actor: str, action: str, obj: str = "", relation: str = "", target: str = "",
         source: str = "perception", confidence: float = 0.5, trigger: str = "", robot: bool = False) -> Event:
    return Event(at(t), actor, action, obj, relation, target, robot, confidence, source, trigger_id=trigger,
                 frame_id="camera")


def person(pid: str, x: float, hands: bool = True) -> Entity:
    keypoints = [Keypoint("left_wrist", x + 10, 200, 0.9), Keypoint("right_wrist", x + 70, 205, 0.9)] if hands else []
    return Entity(pid, EntityKind.PERSON, "person", Box(x, 50, x + 80, 300), 0.9, keypoints, track_id=1)


def thing(oid: str, label: str, x: float, y: float = 250, size: float = 30) -> Entity:
    return Entity(oid, EntityKind.OBJECT, label, Box(x, y, x + size, y + size), 0.8)


def frame(t: float, *entities: Entity) -> EntityFrame:
    return EntityFrame(at(t), "camera", list(entities))
