"""What the robot stack's standard interfaces show of one entity frame: TF frames, vision_msgs detections and
REP-155 (ROS4HRI) bodies and persons, as plain data. No ROS import: merge_ros.ros.conversions turns these views
into messages (and back), merge_ros.ros.standard_outputs publishes them.

Names (README, "The robot stack's own interfaces", says why):
- an entity's TF frame is `<kind>_<id>` for every kind (person_person_1, object_cup_1, robot_robot_1): REP-155
  names a person's frame `person_<person ID>`, and our persistent IDs are the person IDs, so the person frame
  is exactly the one ROS4HRI tools look up; the kind prefix also keeps IDs chosen by users (reference image
  stems such as "camera" or "base_link") from ever naming one of the robot's own frames;
- REP-155 person IDs are the persistent IDs; body IDs are REP-155's own: short, random, one per tracked body
  (the detector's track, or, without a tracker, the person's uninterrupted presence), new when the body is lost
  for longer than the body timeout, so that a person's body_id changes the way REP-155 expects of a skeleton
  tracker while the person ID stays;
- an ID that is no ROS name token (REP-155 puts IDs into topic names) is made one by name_token.
Every frame is oriented upright facing the camera (x towards the camera, y to the image's right, z up the image,
REP-103's body axes for a person facing the camera): the orientation is not measured, only the position is.
"""
from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from merge_ros.perception.depth import CameraModel
from merge_ros.types import KIND_NAMES, Box, Entity, EntityFrame, EntityKind, Point3

Quaternion = tuple[float, float, float, float]  # x, y, z, w
# Rotation from the optical frame (x right, y down, z forward) to the upright frame facing the camera: its
# columns, the frame's axes in optical coordinates, are x = (0, 0, -1), y = (1, 0, 0), z = (0, -1, 0).
UPRIGHT_FACING_CAMERA: Quaternion = (0.5, 0.5, -0.5, 0.5)
BODY_ID_LENGTH = 5  # REP-155: short IDs; 26^5 of them, so a session never runs out
_NOT_IN_TOKEN = re.compile(r"[^A-Za-z0-9_]")


def name_token(instance_id: str) -> str:
    """The ID as a ROS name token (letters, digits, underscores, not starting with a digit): itself for every ID
    perception makes (person_1) and for reference image stems that are tokens already (alice, cup_2)."""
    token = _NOT_IN_TOKEN.sub("_", instance_id)
    return token if token and not token[0].isdigit() else f"id_{token}"


def frame_name(entity: Entity) -> str:
    """The entity's TF frame: <kind>_<id>."""
    return f"{KIND_NAMES[EntityKind(entity.kind)]}_{name_token(entity.id)}"


def body_frame(body_id: str) -> str:
    return f"body_{body_id}"


@dataclass(frozen=True)
class FrameTransform:
    """One TF frame at one time: child placed in parent (metres), rotated by rotation."""

    stamp_ns: int
    parent: str
    child: str
    translation: Point3
    rotation: Quaternion = UPRIGHT_FACING_CAMERA


@dataclass(frozen=True)
class Detection2DView:
    """One entity as vision_msgs/Detection2D shows it: persistent ID, class (the label) with its score, image box."""

    id: str
    class_id: str
    score: float
    box: Box


@dataclass(frozen=True)
class Detection3DView:
    """One located entity as vision_msgs/Detection3D shows it: centre and extent in the optical frame, metres."""

    id: str
    class_id: str
    score: float
    center: Point3
    size: Point3


@dataclass
class Detections2D:
    stamp_ns: int
    frame_id: str
    detections: list[Detection2DView] = field(default_factory=list)


@dataclass
class Detections3D:
    stamp_ns: int
    frame_id: str
    detections: list[Detection3DView] = field(default_factory=list)


@dataclass(frozen=True)
class IdsView:
    """A REP-155 list of IDs (hri_msgs/IdsList): who is tracked in the frame of that stamp."""

    stamp_ns: int
    frame_id: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class NormalizedRoi:
    """A box as fractions of the image's width and height, in [0, 1] (hri_msgs/NormalizedRegionOfInterest2D)."""

    stamp_ns: int
    frame_id: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    confidence: float


def detections_2d(frame: EntityFrame) -> Detections2D:
    return Detections2D(frame.stamp_ns, frame.frame_id,
                        [Detection2DView(e.id, e.label, float(e.confidence), e.box) for e in frame.entities])


def detections_3d(frame: EntityFrame, camera: CameraModel) -> Detections3D:
    """The entities with a position. Their extent: the image box's width and height at the position's depth, and
    as deep as the smaller of the two (the depth locator's own assumption about an object's thickness)."""
    out = []
    for e in frame.entities:
        if e.position is None:
            continue
        z = e.position[2]
        sx, sy = e.box.width * z / camera.fx, e.box.height * z / camera.fy
        out.append(Detection3DView(e.id, e.label, float(e.confidence), e.position, (sx, sy, min(sx, sy))))
    return Detections3D(frame.stamp_ns, frame.frame_id, out)


def transforms(frame: EntityFrame, bodies: Mapping[str, str] | None = None) -> list[FrameTransform]:
    """A frame per entity with a position, child of the frame's own (the camera's optical frame), and, for a person
    with a body (bodies: entity ID -> body ID), the REP-155 body_<body ID> frame at the same place: the one body
    point perception measures, the chest (REP-155 puts a body frame's origin between the hips, which a camera
    over a table rarely sees)."""
    out = []
    for e in frame.entities:
        if e.position is None:
            continue
        out.append(FrameTransform(frame.stamp_ns, frame.frame_id, frame_name(e), e.position))
        if bodies and e.id in bodies:
            out.append(FrameTransform(frame.stamp_ns, frame.frame_id, body_frame(bodies[e.id]), e.position))
    return out


def normalized_roi(box: Box, confidence: float, width: int, height: int, stamp_ns: int, frame_id: str
                   ) -> NormalizedRoi:
    def unit(value: float, size: int) -> float:
        return min(1.0, max(0.0, value / size))

    return NormalizedRoi(stamp_ns, frame_id, unit(box.x_min, width), unit(box.y_min, height), unit(box.x_max, width),
                         unit(box.y_max, height), min(1.0, max(0.0, float(confidence))))


@dataclass
class _Body:
    id: str
    last_ns: int


class BodyTracker:
    """REP-155 body IDs for the persons of a stream of entity frames.

    A body is what a skeleton tracker would follow: the detector's track (track_id), or, for a detection without
    one, the person's own persistent ID. It keeps its ID while it is seen at least every timeout_s of stream
    time; after that it is gone, and the track or person seen again is a new body. Stream time, not wall time:
    a replay gives the same bodies at any rate."""

    def __init__(self, timeout_s: float, rng: random.Random | None = None) -> None:
        self.timeout_ns = int(round(timeout_s * 1e9))
        self._rng = rng or random.Random()
        self._bodies: dict[tuple[str, int | str], _Body] = {}
        self._issued: set[str] = set()

    def update(self, frame: EntityFrame) -> dict[str, str]:
        """entity ID -> body ID for the persons of this frame; bodies unseen for longer than the timeout are
        forgotten first (and so are all of them when the stream jumps back in time: a replay started again)."""
        now = frame.stamp_ns
        self._bodies = {key: body for key, body in self._bodies.items()
                        if 0 <= now - body.last_ns <= self.timeout_ns}
        out = {}
        for e in frame.entities:
            if e.kind != EntityKind.PERSON:
                continue
            key: tuple[str, int | str] = ("track", e.track_id) if e.track_id >= 0 else ("person", e.id)
            body = self._bodies.get(key)
            if body is None:
                body = self._bodies[key] = _Body(self._new_id(), now)
            body.last_ns = now
            out[e.id] = body.id
        return out

    @property
    def alive(self) -> set[str]:
        """The body IDs not yet forgotten (seen within the timeout of the last frame)."""
        return {body.id for body in self._bodies.values()}

    def _new_id(self) -> str:
        """REP-155: body IDs are unique (never reused in a session) and short; random, as it recommends. Letters
        only: a topic name token must not start with a digit."""
        while True:
            candidate = "".join(self._rng.choices(string.ascii_lowercase, k=BODY_ID_LENGTH))
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate
