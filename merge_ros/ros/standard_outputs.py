"""perception_node's publishers of the robot stack's own interfaces, beside its EntityArray: what a planner,
rviz/Foxglove or a ROS4HRI tool reads without knowing merge_ros' messages.

- /tf (tf2_msgs/TFMessage): a frame per entity with a 3-D position, `<kind>_<id>`, child of the image's
  frame_id (the camera's optical frame), published with each entity frame; an entity that is gone is simply no
  longer published (TF has no removal: listeners see its last transform age);
- detections (vision_msgs/Detection2DArray, every frame) and, with depth, detections_3d (Detection3DArray, every
  frame that had depth): id = the persistent ID, the result = the label with the confidence;
- REP-155 under hri_prefix (/humans by default): bodies/tracked and persons/tracked (hri_msgs/IdsList, every
  frame), bodies/<body ID>/roi (hri_msgs/NormalizedRegionOfInterest2D), persons/<person ID>/body_id (std_msgs/
  String) and persons/<person ID>/anonymous (std_msgs/Bool, true for a person perception found itself, false for
  one registered from a reference image), both latched, and the body_<body ID> TF frame. A body's topics exist
  while it is tracked (until body_timeout_s without it), a person's likewise.
merge_ros.ros.standard_views names everything and says why.

Each output needs its message package (tf2_msgs, vision_msgs, hri_msgs: rosdep installs them; tools/setup.sh
--ros-sources builds them here); where one is missing, that output is off with one log line saying how to get it,
and the rest of the node works as before.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.exceptions import InvalidTopicNameException
from rclpy.node import Node
from rclpy.validate_topic_name import validate_topic_name
from std_msgs.msg import Bool, String

from merge_ros.params import ParameterError
from merge_ros.perception.depth import CameraModel
from merge_ros.perception.parameters import StandardOutputsConfig
from merge_ros.ros import conversions
from merge_ros.ros.qos import LATCHED_QOS, LOG_THROTTLE_S, STANDARD_QOS, TF_QOS
from merge_ros.ros.standard_views import (
    BodyTracker,
    IdsView,
    detections_2d,
    detections_3d,
    name_token,
    normalized_roi,
    transforms,
)
from merge_ros.topics import (
    DETECTIONS,
    DETECTIONS_3D,
    HRI_BODIES_TRACKED,
    HRI_BODY_ROI,
    HRI_PERSON_ANONYMOUS,
    HRI_PERSON_BODY_ID,
    HRI_PERSONS_TRACKED,
    TF,
)
from merge_ros.types import EntityFrame, EntityKind

INSTALL_HINT = ("install it (rosdep install --from-paths src --ignore-src), or without a ROS install: bash "
                "tools/setup.sh --ros-sources DIR")


def message_classes(package: str, names: tuple[str, ...]) -> tuple[Any, ...] | str:
    """The named message classes of package, or why they cannot be had (the package is not installed)."""
    try:
        module = importlib.import_module(f"{package}.msg")
        return tuple(getattr(module, name) for name in names)
    except (ImportError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"


def check_prefix(prefix: str) -> None:
    """ParameterError naming hri_prefix unless the REP-155 topics under it are valid ROS names."""
    try:
        validate_topic_name(HRI_BODIES_TRACKED.format(prefix=prefix.rstrip("/")))
    except InvalidTopicNameException as exc:
        raise ParameterError("hri_prefix", f"{prefix!r} does not make valid topic names: {exc}") from exc


@dataclass
class _Person:
    last_ns: int
    body_id: str | None
    body_pub: Any
    anonymous_pub: Any


class StandardOutputs:
    """Made at configure, closed at release (it owns its publishers). publish() runs in perception's worker."""

    def __init__(self, node: Node, config: StandardOutputsConfig, with_depth: bool,
                 is_registered: Callable[[str], bool]) -> None:
        """with_depth: the node reads depth, so detections_3d exists; is_registered(person ID): the person was
        registered from a reference image (REP-155: not anonymous)."""
        if config.publish_hri:
            check_prefix(config.hri_prefix)
        self._node = node
        self._log = node.get_logger()
        self._config = config
        self._is_registered = is_registered
        self.off: dict[str, str] = {}  # output -> why it is off (a missing message package)
        self._classes: dict[str, Any] = {}
        self._tf = self._detections = self._detections_3d = None
        self._bodies_tracked = self._persons_tracked = None
        self._tracker: BodyTracker | None = None
        self._rois: dict[str, Any] = {}           # body ID -> its roi publisher
        self._persons: dict[str, _Person] = {}    # REP-155 person ID -> its latched publishers
        if config.publish_tf and self._have("tf", "tf2_msgs", ("TFMessage",), "the /tf entity frames are"):
            self._tf = self._publisher("TFMessage", TF, TF_QOS)
        if config.publish_detections and self._have("detections", "vision_msgs",
                                                    ("Detection2DArray", "Detection3DArray"), "detections are"):
            self._detections = self._publisher("Detection2DArray", DETECTIONS, STANDARD_QOS)
            if with_depth:
                self._detections_3d = self._publisher("Detection3DArray", DETECTIONS_3D, STANDARD_QOS)
        if config.publish_hri and self._have("hri", "hri_msgs", ("IdsList", "NormalizedRegionOfInterest2D"),
                                             "the REP-155 topics are"):
            self._bodies_tracked = self._publisher("IdsList", self._hri(HRI_BODIES_TRACKED), STANDARD_QOS)
            self._persons_tracked = self._publisher("IdsList", self._hri(HRI_PERSONS_TRACKED), STANDARD_QOS)
            self._tracker = BodyTracker(config.body_timeout_s)

    @property
    def topics(self) -> list[str]:
        """The resolved names of the fixed topics this publishes (for the node's start-up line)."""
        pubs = (self._tf, self._detections, self._detections_3d, self._bodies_tracked, self._persons_tracked)
        return [p.topic_name for p in pubs if p is not None]

    # --- set-up ----------------------------------------------------------------------------------------------
    def _have(self, output: str, package: str, names: tuple[str, ...], what: str) -> bool:
        found = message_classes(package, names)
        if isinstance(found, str):
            self.off[output] = f"{package} is not installed ({found})"
            self._log.warning(f"{package} is not installed: {what} off; {INSTALL_HINT}")
            return False
        self._classes.update(zip(names, found, strict=True))
        return True

    def _publisher(self, type_name: str, topic: str, qos) -> Any:
        return self._node.create_publisher(self._classes[type_name], topic, qos)

    def _hri(self, template: str, instance_id: str = "") -> str:
        return template.format(prefix=self._config.hri_prefix.rstrip("/"), id=instance_id)

    # --- per frame ---------------------------------------------------------------------------------------------
    def publish(self, frame: EntityFrame, width: int, height: int, camera: CameraModel | None) -> None:
        """Everything for one processed frame (width x height px); camera: the camera model the frame's depth
        was read with (None: the frame had no depth, so no detections_3d)."""
        bodies = self._publish_hri(frame, width, height) if self._tracker is not None else {}
        if self._tf is not None:
            located = transforms(frame, bodies)
            if located and not frame.frame_id:
                self._log.warning("the images have no frame_id: no /tf frames (set perception_node's frame_id)",
                                  throttle_duration_sec=LOG_THROTTLE_S)
            elif located:
                self._tf.publish(conversions.transforms_to_msg(located))
        if self._detections is not None:
            self._detections.publish(conversions.detections_2d_to_msg(detections_2d(frame)))
        if self._detections_3d is not None and camera is not None:
            self._detections_3d.publish(conversions.detections_3d_to_msg(detections_3d(frame, camera)))

    def _publish_hri(self, frame: EntityFrame, width: int, height: int) -> dict[str, str]:
        """The REP-155 topics of one frame; entity ID -> body ID of its persons (for their body frames)."""
        bodies = self._tracker.update(frame)
        persons = [e for e in frame.entities if e.kind == EntityKind.PERSON]
        stamp, frame_id = frame.stamp_ns, frame.frame_id
        self._bodies_tracked.publish(conversions.ids_to_msg(IdsView(stamp, frame_id, tuple(bodies.values()))))
        self._persons_tracked.publish(conversions.ids_to_msg(
            IdsView(stamp, frame_id, tuple(name_token(e.id) for e in persons))))
        for e in persons:
            body_id = bodies[e.id]
            roi = self._rois.get(body_id)
            if roi is None:
                roi = self._rois[body_id] = self._publisher("NormalizedRegionOfInterest2D",
                                                            self._hri(HRI_BODY_ROI, body_id), STANDARD_QOS)
            roi.publish(conversions.roi_to_msg(normalized_roi(e.box, e.confidence, width, height, stamp, frame_id)))
            self._person_seen(e.id, body_id, stamp)
        self._forget(stamp)
        return bodies

    def _person_seen(self, entity_id: str, body_id: str, stamp_ns: int) -> None:
        person_id = name_token(entity_id)
        person = self._persons.get(person_id)
        if person is None:
            person = self._persons[person_id] = _Person(
                stamp_ns, None, self._node.create_publisher(String, self._hri(HRI_PERSON_BODY_ID, person_id),
                                                            LATCHED_QOS),
                self._node.create_publisher(Bool, self._hri(HRI_PERSON_ANONYMOUS, person_id), LATCHED_QOS))
            person.anonymous_pub.publish(Bool(data=not self._is_registered(entity_id)))
        person.last_ns = stamp_ns
        if person.body_id != body_id:
            person.body_id = body_id
            person.body_pub.publish(String(data=body_id))

    def _forget(self, stamp_ns: int) -> None:
        """Bodies the tracker has forgotten, and persons unseen as long, lose their topics."""
        alive = self._tracker.alive
        for body_id in [b for b in self._rois if b not in alive]:
            self._node.destroy_publisher(self._rois.pop(body_id))
        timeout = self._tracker.timeout_ns
        for person_id in [p for p, person in self._persons.items() if not 0 <= stamp_ns - person.last_ns <= timeout]:
            person = self._persons.pop(person_id)
            self._node.destroy_publisher(person.body_pub)
            self._node.destroy_publisher(person.anonymous_pub)

    def close(self) -> None:
        """Destroy every publisher (the node's release)."""
        pubs = [self._tf, self._detections, self._detections_3d, self._bodies_tracked, self._persons_tracked,
                *self._rois.values(), *(p for person in self._persons.values()
                                        for p in (person.body_pub, person.anonymous_pub))]
        for pub in pubs:
            if pub is not None:
                self._node.destroy_publisher(pub)
        self._tf = self._detections = self._detections_3d = self._bodies_tracked = self._persons_tracked = None
        self._rois.clear()
        self._persons.clear()
        self._tracker = None
