"""Core data types shared by the offline pipeline and the ROS nodes.

They mirror the messages in msg/ field by field (merge_ros.ros.conversions maps between the two) so that the
logic never needs rclpy. Times are integer nanoseconds, as in builtin_interfaces/Time, so that a message
survives a round trip through the core unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

NS_PER_S = 1_000_000_000


def seconds_to_ns(seconds: float) -> int:
    return int(round(seconds * NS_PER_S))


def ns_to_seconds(stamp_ns: int) -> float:
    return stamp_ns / NS_PER_S


# A 3-D point in a camera's optical frame (x right, y down, z forward along the optical axis), metres.
Point3 = tuple[float, float, float]


class EntityKind(IntEnum):
    """Values equal the constants of msg/Entity.msg."""

    PERSON = 0
    ROBOT = 1
    OBJECT = 2

    @property
    def is_actor(self) -> bool:
        return self is not EntityKind.OBJECT


# The one name of each kind: in IDs (person_3), annotation files, registry folders and log lines.
KIND_NAMES: dict[EntityKind, str] = {EntityKind.PERSON: "person", EntityKind.ROBOT: "robot",
                                     EntityKind.OBJECT: "object"}
KINDS_BY_NAME: dict[str, EntityKind] = {name: kind for kind, name in KIND_NAMES.items()}


SOURCE_PERCEPTION = "perception"
SOURCE_VLM = "vlm"
SOURCE_GROUNDING = "grounding"

RELATION_ON = "on"
RELATION_IN = "in"

PREDICATE_HOLDS = "holds"


@dataclass(frozen=True)
class Box:
    """Axis-aligned image box in pixels (x to the right, y down)."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def width(self) -> float:
        return max(0.0, self.x_max - self.x_min)

    @property
    def height(self) -> float:
        return max(0.0, self.y_max - self.y_min)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x_min + self.x_max) / 2.0, (self.y_min + self.y_max) / 2.0)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x_max, other.x_max) - max(self.x_min, other.x_min))
        iy = max(0.0, min(self.y_max, other.y_max) - max(self.y_min, other.y_min))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def expanded(self, margin: float) -> Box:
        return Box(self.x_min - margin, self.y_min - margin, self.x_max + margin, self.y_max + margin)

    def distance_to_point(self, x: float, y: float) -> float:
        """Euclidean distance from a point to the box (0 inside)."""
        dx = max(self.x_min - x, 0.0, x - self.x_max)
        dy = max(self.y_min - y, 0.0, y - self.y_max)
        return (dx * dx + dy * dy) ** 0.5

    def as_list(self) -> list[float]:
        return [self.x_min, self.y_min, self.x_max, self.y_max]


@dataclass(frozen=True)
class Keypoint:
    """A named image point (wrist, hand, gripper) with its confidence; score 0 means not visible.

    position is its 3-D point from the aligned depth image (merge_ros.perception.depth), None without depth or
    without enough valid depth readings around it."""

    name: str
    x: float
    y: float
    score: float = 1.0
    position: Point3 | None = None


@dataclass
class Entity:
    """One physical instance in one frame, with its persistent ID (see msg/Entity.msg)."""

    id: str
    kind: EntityKind
    label: str
    box: Box
    confidence: float = 1.0
    keypoints: list[Keypoint] = field(default_factory=list)
    track_id: int = -1
    track_age: float = 0.0
    # 3-D position in the frame's optical frame (EntityFrame.frame_id), metres, from the aligned depth image: an
    # object's centre, a person's chest, a robot's grip point. None without depth or where too few valid depth readings
    # fell on the entity (merge_ros.perception.depth reports no position rather than a wrong one).
    position: Point3 | None = None

    @property
    def is_actor(self) -> bool:
        return EntityKind(self.kind).is_actor

    def hands(self, min_score: float = 0.3) -> list[Keypoint]:
        """Visible hand-like points; for actors without keypoints, none."""
        return [k for k in self.keypoints if k.score >= min_score]


@dataclass
class EntityFrame:
    """All entities of one processed frame (see msg/EntityArray.msg)."""

    stamp_ns: int
    frame_id: str
    entities: list[Entity] = field(default_factory=list)

    @property
    def stamp(self) -> float:
        return ns_to_seconds(self.stamp_ns)

    def by_id(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}


@dataclass
class Trigger:
    """A change detected for one actor that may be worth reasoning about (see msg/Trigger.msg)."""

    stamp_ns: int
    frame_id: str
    actor_id: str
    reason: str
    tentative_action: str = ""
    object_id: str = ""
    relation: str = ""
    target_id: str = ""
    robot_interaction: bool = False

    @property
    def stamp(self) -> float:
        return ns_to_seconds(self.stamp_ns)


@dataclass
class Event:
    """An actor-action-object relation at a time (see msg/Event.msg)."""

    stamp_ns: int
    actor_id: str
    action: str
    object_id: str = ""
    relation: str = ""
    target_id: str = ""
    robot_interaction: bool = False
    confidence: float = 1.0
    source: str = SOURCE_PERCEPTION
    event_id: str = ""
    trigger_id: str = ""
    frame_id: str = ""

    @property
    def stamp(self) -> float:
        return ns_to_seconds(self.stamp_ns)

    def key(self) -> tuple[str, str, str, str, str, bool]:
        """What makes two events of an actor the same relation (time, source and confidence aside)."""
        return (self.actor_id, self.action, self.object_id, self.relation, self.target_id, self.robot_interaction)


@dataclass
class StageStep:
    """One step of the event stage's output, in stream order (see msg/StageStep.msg): an entity frame with the
    candidates it produced, or (frame None) the candidates of a VLM answer that arrived between frames."""

    stamp_ns: int
    frame_id: str
    frame: EntityFrame | None
    candidates: list[Event] = field(default_factory=list)


@dataclass
class Relation:
    """A relation that holds now (see msg/Relation.msg)."""

    subject_id: str
    predicate: str
    object_id: str
    since_ns: int = 0
    event_id: str = ""


@dataclass
class SceneState:
    """The situational model (see msg/SceneState.msg)."""

    stamp_ns: int
    frame_id: str
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    event_count: int = 0


@dataclass
class ReasoningStatus:
    """Counters of the reasoning path (see msg/ReasoningStatus.msg)."""

    stamp_ns: int = 0
    requests: int = 0
    dropped: int = 0
    malformed: int = 0
    timeouts: int = 0
    failures: int = 0
    in_flight: int = 0


@dataclass
class ReasonRequest:
    """One guided reasoning request (see srv/Reason.srv); images are BGR uint8 arrays in prompt order."""

    trigger: Trigger
    prompt: str
    images: list = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    actor_ids: list[str] = field(default_factory=list)
    object_ids: list[str] = field(default_factory=list)


@dataclass
class ReasonResult:
    """The answer to a ReasonRequest: validated candidate events, or why there are none."""

    success: bool
    error: str = ""
    raw_text: str = ""
    events: list[Event] = field(default_factory=list)
