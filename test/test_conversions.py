"""Core types <-> messages, both ways, for every type."""
from __future__ import annotations

import numpy as np
import pytest
import samples
from sensor_msgs.msg import CameraInfo, Image

from merge_ros.perception.depth import CameraModel, DepthError, DepthFrame
from merge_ros.ros import conversions
from merge_ros.types import Box, Entity, EntityKind, Keypoint, ReasonRequest, ReasonResult, SceneState

PAIRS = [
    (samples.entity_frame, conversions.entity_frame_to_msg, conversions.entity_frame_from_msg),
    (samples.trigger, conversions.trigger_to_msg, conversions.trigger_from_msg),
    (samples.event, conversions.event_to_msg, conversions.event_from_msg),
    (samples.relation, conversions.relation_to_msg, conversions.relation_from_msg),
    (samples.scene, conversions.scene_to_msg, conversions.scene_from_msg),
    (samples.status, conversions.status_to_msg, conversions.status_from_msg),
]


@pytest.mark.parametrize(("make", "to_msg", "from_msg"), PAIRS, ids=lambda x: getattr(x, "__name__", ""))
def test_core_to_msg_and_back(make, to_msg, from_msg):
    core = make()
    msg = to_msg(core)
    assert from_msg(msg) == core
    assert to_msg(from_msg(msg)) == msg


def test_message_fields_carry_values():
    msg = conversions.entity_frame_to_msg(samples.entity_frame())
    assert msg.header.stamp.sec == samples.STAMP_NS // 10**9
    assert msg.header.stamp.nanosec == samples.STAMP_NS % 10**9
    person = msg.entities[0]
    assert (person.id, person.kind, person.track_id) == ("person_1", person.PERSON, 7)
    assert [k.name for k in person.keypoints] == ["left_wrist", "right_wrist"]
    assert msg.entities[2].kind == msg.entities[2].OBJECT
    event = conversions.event_to_msg(samples.event())
    assert (event.relation, event.target_id, event.source) == (event.RELATION_ON, "plate_2", event.SOURCE_VLM)


def test_reason_request_and_result_round_trip():
    png_friendly = np.zeros((32, 48, 3), np.uint8)
    png_friendly[8:24, 10:30] = (0, 0, 255)
    request = ReasonRequest(samples.trigger(), "Describe.", [png_friendly, samples.frame()],
                            ["object apple_1", "frame t-0"], ["person_1"], ["apple_1", "plate_2"])
    msg = conversions.reason_request_to_msg(request)
    assert [i.format for i in msg.images] == ["jpeg", "jpeg"]
    back = conversions.reason_request_from_msg(msg)
    assert back.trigger == request.trigger and back.captions == request.captions
    assert back.actor_ids == request.actor_ids and back.object_ids == request.object_ids
    for got, sent in zip(back.images, request.images, strict=True):
        assert got.shape == sent.shape
        assert np.abs(got.astype(int) - sent.astype(int)).mean() < 6  # JPEG is lossy, but close
    result = ReasonResult(True, "", '{"action": "grasp"}', [samples.event()])
    assert conversions.reason_result_from_msg(conversions.reason_result_to_msg(result)) == result


def test_time_conversion_is_exact_at_nanosecond_resolution():
    for ns in (0, 1, 999_999_999, 1_000_000_000, samples.STAMP_NS):
        assert conversions.time_to_ns(conversions.ns_to_time(ns)) == ns


def _located_entity() -> Entity:
    """A person with a 3-D position and one of its two keypoints located (values exact in float64)."""
    return Entity("person_1", EntityKind.PERSON, "person", Box(10.5, 20.25, 200.0, 400.75), 0.875,
                  [Keypoint("left_wrist", 50.5, 300.25, 0.75, (-0.25, 0.125, 1.5)),
                   Keypoint("right_wrist", 150.0, 310.5, 0.5)], track_id=7, track_age=12.5,
                  position=(-0.0625, -0.5, 2.03125))


def test_positions_round_trip_with_their_validity():
    located = _located_entity()
    msg = conversions.entity_to_msg(located)
    assert msg.position.valid and (msg.position.point.x, msg.position.point.z) == (-0.0625, 2.03125)
    assert [p.valid for p in msg.keypoint_positions] == [True, False]
    assert conversions.entity_from_msg(msg) == located
    assert conversions.entity_to_msg(conversions.entity_from_msg(msg)) == msg
    plain = samples.person()                       # no depth: no position, no keypoint positions at all
    msg = conversions.entity_to_msg(plain)
    assert not msg.position.valid and list(msg.keypoint_positions) == []
    assert conversions.entity_from_msg(msg) == plain
    scene = SceneState(samples.STAMP_NS, "camera", [located, samples.apple()])
    assert conversions.scene_from_msg(conversions.scene_to_msg(scene)) == scene
    msg = conversions.entity_to_msg(located)
    msg.keypoint_positions = msg.keypoint_positions[:1]  # not one per keypoint: not trusted
    assert [k.position for k in conversions.entity_from_msg(msg).keypoints] == [None, None]


def test_camera_info_and_depth_images_round_trip():
    camera = CameraModel(640, 480, (600.0, 0.0, 320.0, 0.0, 600.0, 240.0, 0.0, 0.0, 1.0),
                         (0.125, -0.25, 0.0, 0.0, 0.0), "plumb_bob", "camera_color_optical_frame")
    msg = conversions.camera_info_to_msg(camera, samples.STAMP_NS)
    assert (msg.width, msg.height, msg.header.frame_id) == (640, 480, "camera_color_optical_frame")
    assert list(msg.p) == [600.0, 0.0, 320.0, 0.0, 0.0, 600.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert conversions.camera_info_from_msg(msg) == camera
    with pytest.raises(DepthError):
        conversions.camera_info_from_msg(CameraInfo(width=640, height=480))  # uncalibrated: K all zero
    mm = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    for depth in (DepthFrame.from_array(mm, "16UC1", samples.STAMP_NS, "camera"),
                  DepthFrame.from_array(np.where(mm > 0, mm / 1000.0, np.nan).astype(np.float32), "32FC1", 5, "c")):
        back = conversions.depth_from_msg(conversions.depth_to_msg(depth))
        assert (back.encoding, back.stamp_ns, back.frame_id, back.scale) == (depth.encoding, depth.stamp_ns,
                                                                             depth.frame_id, depth.scale)
        np.testing.assert_array_equal(back.values, depth.values)


def test_depth_images_from_drivers_padded_or_big_endian():
    values = np.array([[1000, 2000, 0], [65535, 1, 258]], np.uint16)
    padded = Image(height=2, width=3, encoding="16UC1", is_bigendian=1, step=8,
                   data=np.hstack([values.astype(">u2").view(np.uint8), np.zeros((2, 2), np.uint8)]).tobytes())
    np.testing.assert_array_equal(conversions.depth_from_msg(padded).values, values)
    with pytest.raises(DepthError, match="encoding"):
        conversions.depth_from_msg(Image(height=2, width=3, encoding="bgr8", step=9, data=bytes(18)))
    with pytest.raises(DepthError, match="do not hold it"):
        conversions.depth_from_msg(Image(height=2, width=3, encoding="16UC1", step=6, data=bytes(10)))


# --- the robot stack's standard interfaces (need tf2_msgs, vision_msgs, hri_msgs: tools/setup.sh --ros-sources) -----
def _standard_pairs():
    """(core view, to_msg, from_msg, the message type) of each standard interface, with float32-exact values."""
    from merge_ros.ros.standard_views import (
        Detection2DView,
        Detection3DView,
        Detections2D,
        Detections3D,
        FrameTransform,
        IdsView,
        NormalizedRoi,
    )

    stamp = samples.STAMP_NS
    return [
        ([FrameTransform(stamp, "camera", "person_person_1", (-0.0625, -0.5, 2.03125)),
          FrameTransform(stamp, "camera", "body_qwert", (1.0, 2.0, 3.0), (0.0, 0.0, 0.0, 1.0))],
         conversions.transforms_to_msg, conversions.transforms_from_msg, "tf2_msgs.msg.TFMessage"),
        (Detections2D(stamp, "camera", [Detection2DView("person_1", "person", 0.875, Box(10.5, 20.25, 200.0, 400.75)),
                                        Detection2DView("cup_2", "cup", 0.5, Box(0.0, 0.0, 1.0, 1.0))]),
         conversions.detections_2d_to_msg, conversions.detections_2d_from_msg, "vision_msgs.msg.Detection2DArray"),
        (Detections3D(stamp, "camera", [Detection3DView("cup_2", "cup", 0.5, (0.25, -0.125, 1.5), (0.1, 0.2, 0.1))]),
         conversions.detections_3d_to_msg, conversions.detections_3d_from_msg, "vision_msgs.msg.Detection3DArray"),
        (IdsView(stamp, "camera", ("person_1", "alice")), conversions.ids_to_msg, conversions.ids_from_msg,
         "hri_msgs.msg.IdsList"),
        (NormalizedRoi(stamp, "camera", 0.25, 0.125, 0.75, 1.0, 0.875), conversions.roi_to_msg,
         conversions.roi_from_msg, "hri_msgs.msg.NormalizedRegionOfInterest2D"),
    ]


def test_standard_interfaces_to_msg_and_back():
    pytest.importorskip("hri_msgs.msg", reason="built by tools/setup.sh --ros-sources ../shared/ros2-jazzy")
    pytest.importorskip("vision_msgs.msg")
    pytest.importorskip("tf2_msgs.msg")
    from rclpy.serialization import deserialize_message

    for core, to_msg, from_msg, type_name in _standard_pairs():
        msg = to_msg(core)
        assert f"{type(msg).__module__.rsplit('._', 1)[0]}.{type(msg).__name__}" == type_name
        wire = deserialize_message(conversions.serialized(msg), type(msg))  # what a subscriber gets
        assert from_msg(wire) == core
        assert to_msg(from_msg(wire)) == wire


def test_standard_interface_fields_mean_what_their_packages_say():
    pytest.importorskip("hri_msgs.msg", reason="built by tools/setup.sh --ros-sources ../shared/ros2-jazzy")
    pytest.importorskip("vision_msgs.msg")
    pytest.importorskip("tf2_msgs.msg")
    (tf, _, _, _), (d2, _, _, _), (d3, _, _, _), *_ = _standard_pairs()
    t = conversions.transforms_to_msg(tf).transforms[0]
    assert (t.header.frame_id, t.child_frame_id, t.transform.translation.z) == ("camera", "person_person_1", 2.03125)
    det = conversions.detections_2d_to_msg(d2).detections[0]
    assert det.id == "person_1" and det.header.frame_id == "camera"  # the persistent ID, the image's frame
    assert (det.results[0].hypothesis.class_id, det.results[0].hypothesis.score) == ("person", 0.875)
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == (105.25, 210.5)
    assert (det.bbox.size_x, det.bbox.size_y) == (189.5, 380.5)
    det3 = conversions.detections_3d_to_msg(d3).detections[0]
    assert det3.bbox.center.position.z == 1.5 and det3.results[0].pose.pose.position.z == 1.5
    assert det3.bbox.center.orientation.w == 1.0 and det3.bbox.size.y == 0.2
