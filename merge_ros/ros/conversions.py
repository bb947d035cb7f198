"""The one place where core types (merge_ros.types) become ROS messages and back.

Every pair is exact: to_msg(from_msg(m)) == m field by field. It needs the generated message classes but no
running node. The robot stack's standard interfaces (tf2_msgs, vision_msgs, hri_msgs: merge_ros.ros.standard_views)
are imported where they are used, so that a machine without one of those packages still loads this module (and
perception_node turns that output off).
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseWithCovariance, Quaternion, Transform, TransformStamped, Vector3
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from merge_ros.io import images
from merge_ros.msg import Box2D as BoxMsg
from merge_ros.msg import Entity as EntityMsg
from merge_ros.msg import EntityArray as EntityArrayMsg
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import Keypoint2D as KeypointMsg
from merge_ros.msg import Position3D as PositionMsg
from merge_ros.msg import ReasoningStatus as ReasoningStatusMsg
from merge_ros.msg import Relation as RelationMsg
from merge_ros.msg import SceneState as SceneStateMsg
from merge_ros.msg import StageStep as StageStepMsg
from merge_ros.msg import Trigger as TriggerMsg
from merge_ros.perception.depth import DEPTH_ENCODINGS, CameraModel, DepthError, DepthFrame
from merge_ros.ros.standard_views import (
    Detection2DView,
    Detection3DView,
    Detections2D,
    Detections3D,
    FrameTransform,
    IdsView,
    NormalizedRoi,
)
from merge_ros.srv import Reason
from merge_ros.types import (
    NS_PER_S,
    Box,
    Entity,
    EntityFrame,
    EntityKind,
    Event,
    Keypoint,
    Point3,
    ReasoningStatus,
    ReasonRequest,
    ReasonResult,
    Relation,
    SceneState,
    StageStep,
    Trigger,
)


def serialized(msg) -> bytes:
    """The CDR bytes publish() hands to DDS for msg: what a node pays per message before the middleware."""
    return serialize_message(msg)


def time_to_ns(t: Time) -> int:
    return int(t.sec) * NS_PER_S + int(t.nanosec)


def ns_to_time(stamp_ns: int) -> Time:
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_time(stamp_ns), frame_id=frame_id)


def box_to_msg(b: Box) -> BoxMsg:
    return BoxMsg(x_min=float(b.x_min), y_min=float(b.y_min), x_max=float(b.x_max), y_max=float(b.y_max))


def box_from_msg(m: BoxMsg) -> Box:
    return Box(m.x_min, m.y_min, m.x_max, m.y_max)


def keypoint_to_msg(k: Keypoint) -> KeypointMsg:
    """The 2-D keypoint; its 3-D position travels in Entity.keypoint_positions (position_to_msg)."""
    return KeypointMsg(name=k.name, x=float(k.x), y=float(k.y), score=float(k.score))


def keypoint_from_msg(m: KeypointMsg, position: PositionMsg | None = None) -> Keypoint:
    return Keypoint(m.name, m.x, m.y, m.score, None if position is None else position_from_msg(position))


def position_to_msg(p: Point3 | None) -> PositionMsg:
    if p is None:
        return PositionMsg(valid=False)
    return PositionMsg(valid=True, point=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])))


def position_from_msg(m: PositionMsg) -> Point3 | None:
    return (m.point.x, m.point.y, m.point.z) if m.valid else None


def entity_to_msg(e: Entity) -> EntityMsg:
    located = any(k.position is not None for k in e.keypoints)
    return EntityMsg(
        id=e.id, kind=int(e.kind), label=e.label, box=box_to_msg(e.box), confidence=float(e.confidence),
        keypoints=[keypoint_to_msg(k) for k in e.keypoints], track_id=int(e.track_id),
        track_age=float(e.track_age), position=position_to_msg(e.position),
        keypoint_positions=[position_to_msg(k.position) for k in e.keypoints] if located else [],
    )


def entity_from_msg(m: EntityMsg) -> Entity:
    """keypoint_positions is either empty or one per keypoint (Entity.msg); any other length is taken as empty."""
    positions = list(m.keypoint_positions) if len(m.keypoint_positions) == len(m.keypoints) else [None] * len(
        m.keypoints)
    return Entity(
        id=m.id, kind=EntityKind(m.kind), label=m.label, box=box_from_msg(m.box), confidence=m.confidence,
        keypoints=[keypoint_from_msg(k, p) for k, p in zip(m.keypoints, positions, strict=True)],
        track_id=m.track_id, track_age=m.track_age, position=position_from_msg(m.position),
    )


def entity_frame_to_msg(f: EntityFrame) -> EntityArrayMsg:
    return EntityArrayMsg(header=header(f.stamp_ns, f.frame_id), entities=[entity_to_msg(e) for e in f.entities])


def entity_frame_from_msg(m: EntityArrayMsg) -> EntityFrame:
    return EntityFrame(time_to_ns(m.header.stamp), m.header.frame_id, [entity_from_msg(e) for e in m.entities])


def trigger_to_msg(t: Trigger) -> TriggerMsg:
    return TriggerMsg(
        header=header(t.stamp_ns, t.frame_id), actor_id=t.actor_id, reason=t.reason,
        tentative_action=t.tentative_action, object_id=t.object_id, relation=t.relation, target_id=t.target_id,
        robot_interaction=bool(t.robot_interaction),
    )


def trigger_from_msg(m: TriggerMsg) -> Trigger:
    return Trigger(
        stamp_ns=time_to_ns(m.header.stamp), frame_id=m.header.frame_id, actor_id=m.actor_id, reason=m.reason,
        tentative_action=m.tentative_action, object_id=m.object_id, relation=m.relation, target_id=m.target_id,
        robot_interaction=m.robot_interaction,
    )


def event_to_msg(e: Event) -> EventMsg:
    return EventMsg(
        header=header(e.stamp_ns, e.frame_id), event_id=e.event_id, actor_id=e.actor_id, action=e.action,
        object_id=e.object_id, relation=e.relation, target_id=e.target_id,
        robot_interaction=bool(e.robot_interaction), confidence=float(e.confidence), source=e.source,
        trigger_id=e.trigger_id,
    )


def event_from_msg(m: EventMsg) -> Event:
    return Event(
        stamp_ns=time_to_ns(m.header.stamp), actor_id=m.actor_id, action=m.action, object_id=m.object_id,
        relation=m.relation, target_id=m.target_id, robot_interaction=m.robot_interaction,
        confidence=m.confidence, source=m.source, event_id=m.event_id, trigger_id=m.trigger_id,
        frame_id=m.header.frame_id,
    )


def stage_step_to_msg(s: StageStep) -> StageStepMsg:
    return StageStepMsg(header=header(s.stamp_ns, s.frame_id), has_frame=s.frame is not None,
                        entities=[entity_to_msg(e) for e in s.frame.entities] if s.frame is not None else [],
                        candidates=[event_to_msg(e) for e in s.candidates])


def stage_step_from_msg(m: StageStepMsg) -> StageStep:
    stamp = time_to_ns(m.header.stamp)
    frame = EntityFrame(stamp, m.header.frame_id, [entity_from_msg(e) for e in m.entities]) if m.has_frame else None
    return StageStep(stamp, m.header.frame_id, frame, [event_from_msg(e) for e in m.candidates])


def relation_to_msg(r: Relation) -> RelationMsg:
    return RelationMsg(subject_id=r.subject_id, predicate=r.predicate, object_id=r.object_id,
                       since=ns_to_time(r.since_ns), event_id=r.event_id)


def relation_from_msg(m: RelationMsg) -> Relation:
    return Relation(m.subject_id, m.predicate, m.object_id, time_to_ns(m.since), m.event_id)


def scene_to_msg(s: SceneState) -> SceneStateMsg:
    return SceneStateMsg(
        header=header(s.stamp_ns, s.frame_id), entities=[entity_to_msg(e) for e in s.entities],
        relations=[relation_to_msg(r) for r in s.relations], event_count=int(s.event_count),
    )


def scene_from_msg(m: SceneStateMsg) -> SceneState:
    return SceneState(
        stamp_ns=time_to_ns(m.header.stamp), frame_id=m.header.frame_id,
        entities=[entity_from_msg(e) for e in m.entities], relations=[relation_from_msg(r) for r in m.relations],
        event_count=m.event_count,
    )


def status_to_msg(s: ReasoningStatus) -> ReasoningStatusMsg:
    return ReasoningStatusMsg(
        header=header(s.stamp_ns, ""), requests=s.requests, dropped=s.dropped, malformed=s.malformed,
        timeouts=s.timeouts, failures=s.failures, in_flight=s.in_flight,
    )


def status_from_msg(m: ReasoningStatusMsg) -> ReasoningStatus:
    return ReasoningStatus(time_to_ns(m.header.stamp), m.requests, m.dropped, m.malformed, m.timeouts,
                           m.failures, m.in_flight)


def camera_info_to_msg(c: CameraModel, stamp_ns: int = 0) -> CameraInfo:
    """R identity and P = [K | 0]: the camera of an unrectified image (image_raw), as a driver publishes it."""
    return CameraInfo(header=header(stamp_ns, c.frame_id), width=int(c.width), height=int(c.height),
                      distortion_model=c.distortion_model, d=list(c.d), k=list(c.k), r=list(c.r), p=list(c.p))


def camera_info_from_msg(m: CameraInfo) -> CameraModel:
    """The camera model (K, D, size, frame_id); raises DepthError for an unusable one (e.g. an all-zero K)."""
    return CameraModel(int(m.width), int(m.height), tuple(float(v) for v in m.k), tuple(float(v) for v in m.d),
                       m.distortion_model, m.header.frame_id)


def depth_to_msg(d: DepthFrame) -> Image:
    values = np.ascontiguousarray(d.values.astype(d.values.dtype.newbyteorder("<"), copy=False))
    height, width = values.shape
    return Image(header=header(d.stamp_ns, d.frame_id), height=height, width=width, encoding=d.encoding,
                 is_bigendian=0, step=width * values.itemsize, data=values.tobytes())


def depth_from_msg(m: Image) -> DepthFrame:
    """A depth Image (16UC1 millimetres or 32FC1 metres, as depth drivers publish) as a DepthFrame; DepthError
    for another encoding or a malformed buffer."""
    if m.encoding not in DEPTH_ENCODINGS:
        raise DepthError(f"depth image encoding {m.encoding!r} is not one of {', '.join(DEPTH_ENCODINGS)}")
    dtype = np.dtype(DEPTH_ENCODINGS[m.encoding][0]).newbyteorder(">" if m.is_bigendian else "<")
    row = int(m.width) * dtype.itemsize
    if m.step < row or len(m.data) < int(m.step) * int(m.height):
        raise DepthError(f"depth image {m.width}x{m.height}: step {m.step} and {len(m.data)} bytes do not hold it")
    rows = np.frombuffer(bytes(m.data), np.uint8, int(m.step) * int(m.height)).reshape(int(m.height), int(m.step))
    values = rows[:, :row].copy().view(dtype).astype(dtype.newbyteorder("="))
    return DepthFrame.from_array(values, m.encoding, time_to_ns(m.header.stamp), m.header.frame_id)


def compressed_msg(frame: np.ndarray, stamp_ns: int = 0, frame_id: str = "", fmt: str = "jpeg") -> CompressedImage:
    return CompressedImage(header=header(stamp_ns, frame_id), format=fmt,
                           data=images.bgr8_to_compressed(frame, fmt))


def image_msg(array: np.ndarray, encoding: str = "bgr8", stamp_ns: int = 0, frame_id: str = "") -> Image:
    width, height, step, data = images.array_to_raw(array, encoding)
    return Image(header=header(stamp_ns, frame_id), height=height, width=width, encoding=encoding,
                 is_bigendian=0, step=step, data=data)


def image_msg_to_bgr8(msg: Image | CompressedImage) -> np.ndarray:
    """Decode either image message type to an 8-bit BGR frame; raises images.ImageError on bad input."""
    if isinstance(msg, CompressedImage):
        return images.compressed_to_bgr8(msg.format, bytes(msg.data))
    return images.raw_to_bgr8(msg.encoding, msg.width, msg.height, msg.step, bytes(msg.data),
                              bool(msg.is_bigendian))


def reason_request_to_msg(r: ReasonRequest) -> Reason.Request:
    return Reason.Request(
        trigger=trigger_to_msg(r.trigger), prompt=r.prompt,
        images=[compressed_msg(img, r.trigger.stamp_ns, r.trigger.frame_id) for img in r.images],
        captions=list(r.captions), actor_ids=list(r.actor_ids), object_ids=list(r.object_ids),
    )


def reason_request_from_msg(m: Reason.Request) -> ReasonRequest:
    return ReasonRequest(
        trigger=trigger_from_msg(m.trigger), prompt=m.prompt, images=[image_msg_to_bgr8(i) for i in m.images],
        captions=list(m.captions), actor_ids=list(m.actor_ids), object_ids=list(m.object_ids),
    )


def reason_result_to_msg(r: ReasonResult) -> Reason.Response:
    return Reason.Response(success=r.success, error=r.error, raw_text=r.raw_text,
                           events=[event_to_msg(e) for e in r.events])


def reason_result_from_msg(m: Reason.Response) -> ReasonResult:
    return ReasonResult(m.success, m.error, m.raw_text, [event_from_msg(e) for e in m.events])


# --- the robot stack's standard interfaces (merge_ros.ros.standard_views) ------------------------------------------

def transforms_to_msg(transforms: list[FrameTransform]):
    """tf2_msgs/TFMessage: one TransformStamped per frame."""
    from tf2_msgs.msg import TFMessage

    return TFMessage(transforms=[TransformStamped(
        header=header(t.stamp_ns, t.parent), child_frame_id=t.child,
        transform=Transform(translation=Vector3(x=float(t.translation[0]), y=float(t.translation[1]),
                                                z=float(t.translation[2])),
                            rotation=Quaternion(x=float(t.rotation[0]), y=float(t.rotation[1]),
                                                z=float(t.rotation[2]), w=float(t.rotation[3]))))
        for t in transforms])


def transforms_from_msg(m) -> list[FrameTransform]:
    out = []
    for t in m.transforms:
        v, q = t.transform.translation, t.transform.rotation
        out.append(FrameTransform(time_to_ns(t.header.stamp), t.header.frame_id, t.child_frame_id,
                                  (v.x, v.y, v.z), (q.x, q.y, q.z, q.w)))
    return out


def _hypotheses(class_id: str, score: float, position: Point3 | None = None) -> list:
    from vision_msgs.msg import ObjectHypothesis, ObjectHypothesisWithPose

    pose = PoseWithCovariance()
    if position is not None:
        pose.pose.position = Point(x=float(position[0]), y=float(position[1]), z=float(position[2]))
    return [ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=class_id, score=float(score)), pose=pose)]


def _hypothesis(results) -> tuple[str, float]:
    """The class and score of a detection's first hypothesis ("" and 0 without one)."""
    return (results[0].hypothesis.class_id, results[0].hypothesis.score) if results else ("", 0.0)


def detections_2d_to_msg(d: Detections2D):
    """vision_msgs/Detection2DArray: every detection has the array's header; id = the persistent ID, the one
    hypothesis = the label with the detection's confidence, the box by its centre and size in pixels."""
    from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, Point2D, Pose2D

    h = header(d.stamp_ns, d.frame_id)

    def one(v: Detection2DView) -> Detection2D:
        cx, cy = v.box.center
        bbox = BoundingBox2D(center=Pose2D(position=Point2D(x=float(cx), y=float(cy)), theta=0.0),
                             size_x=float(v.box.width), size_y=float(v.box.height))
        return Detection2D(header=h, results=_hypotheses(v.class_id, v.score), bbox=bbox, id=v.id)

    return Detection2DArray(header=h, detections=[one(v) for v in d.detections])


def detections_2d_from_msg(m) -> Detections2D:
    out = []
    for det in m.detections:
        c, sx, sy = det.bbox.center.position, det.bbox.size_x, det.bbox.size_y
        out.append(Detection2DView(det.id, *_hypothesis(det.results),
                                   Box(c.x - sx / 2.0, c.y - sy / 2.0, c.x + sx / 2.0, c.y + sy / 2.0)))
    return Detections2D(time_to_ns(m.header.stamp), m.header.frame_id, out)


def detections_3d_to_msg(d: Detections3D):
    """vision_msgs/Detection3DArray: the box centred on the entity's position (also the hypothesis's pose),
    axis-aligned with the header's optical frame."""
    from vision_msgs.msg import BoundingBox3D, Detection3D, Detection3DArray

    h = header(d.stamp_ns, d.frame_id)

    def one(v: Detection3DView) -> Detection3D:
        center = Pose(position=Point(x=float(v.center[0]), y=float(v.center[1]), z=float(v.center[2])))
        size = Vector3(x=float(v.size[0]), y=float(v.size[1]), z=float(v.size[2]))
        return Detection3D(header=h, results=_hypotheses(v.class_id, v.score, v.center),
                           bbox=BoundingBox3D(center=center, size=size), id=v.id)

    return Detection3DArray(header=h, detections=[one(v) for v in d.detections])


def detections_3d_from_msg(m) -> Detections3D:
    out = []
    for det in m.detections:
        p, s = det.bbox.center.position, det.bbox.size
        out.append(Detection3DView(det.id, *_hypothesis(det.results), (p.x, p.y, p.z), (s.x, s.y, s.z)))
    return Detections3D(time_to_ns(m.header.stamp), m.header.frame_id, out)


def ids_to_msg(v: IdsView):
    from hri_msgs.msg import IdsList

    return IdsList(header=header(v.stamp_ns, v.frame_id), ids=list(v.ids))


def ids_from_msg(m) -> IdsView:
    return IdsView(time_to_ns(m.header.stamp), m.header.frame_id, tuple(m.ids))


def roi_to_msg(r: NormalizedRoi):
    from hri_msgs.msg import NormalizedRegionOfInterest2D

    return NormalizedRegionOfInterest2D(header=header(r.stamp_ns, r.frame_id), xmin=float(r.x_min),
                                        ymin=float(r.y_min), xmax=float(r.x_max), ymax=float(r.y_max),
                                        c=float(r.confidence))


def roi_from_msg(m) -> NormalizedRoi:
    """The fields are float32: a value comes back as the nearest float32, as over the wire."""
    return NormalizedRoi(time_to_ns(m.header.stamp), m.header.frame_id, m.xmin, m.ymin, m.xmax, m.ymax, m.c)
