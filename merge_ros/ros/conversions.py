"""The one place where core types (merge_ros.types) become ROS messages and back.

Every pair is exact: to_msg(from_msg(m)) == m field by field. It needs the generated message classes but no
running node.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from merge_ros.io import images
from merge_ros.msg import Box2D as BoxMsg
from merge_ros.msg import Entity as EntityMsg
from merge_ros.msg import EntityArray as EntityArrayMsg
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import Keypoint2D as KeypointMsg
from merge_ros.msg import ReasoningStatus as ReasoningStatusMsg
from merge_ros.msg import Relation as RelationMsg
from merge_ros.msg import SceneState as SceneStateMsg
from merge_ros.msg import StageStep as StageStepMsg
from merge_ros.msg import Trigger as TriggerMsg
from merge_ros.srv import Reason
from merge_ros.types import (
    NS_PER_S,
    Box,
    Entity,
    EntityFrame,
    EntityKind,
    Event,
    Keypoint,
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
    return KeypointMsg(name=k.name, x=float(k.x), y=float(k.y), score=float(k.score))


def keypoint_from_msg(m: KeypointMsg) -> Keypoint:
    return Keypoint(m.name, m.x, m.y, m.score)


def entity_to_msg(e: Entity) -> EntityMsg:
    return EntityMsg(
        id=e.id, kind=int(e.kind), label=e.label, box=box_to_msg(e.box), confidence=float(e.confidence),
        keypoints=[keypoint_to_msg(k) for k in e.keypoints], track_id=int(e.track_id),
        track_age=float(e.track_age),
    )


def entity_from_msg(m: EntityMsg) -> Entity:
    return Entity(
        id=m.id, kind=EntityKind(m.kind), label=m.label, box=box_from_msg(m.box), confidence=m.confidence,
        keypoints=[keypoint_from_msg(k) for k in m.keypoints], track_id=m.track_id, track_age=m.track_age,
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
