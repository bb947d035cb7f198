"""merge_ros.perception.depth: camera model, depth frames, and 3-D positions from depth on hand-built scenes whose
true geometry is known (the synthetic scenes are test_depth_bench.py's)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from merge_ros.perception.depth import CameraModel, DepthConfig, DepthError, DepthFrame, DepthLocator
from merge_ros.perception.detection import Detection
from merge_ros.perception.pipeline import PerceptionPipeline
from merge_ros.types import Box, Entity, EntityKind, Keypoint

W, H, F = 320, 240, 300.0
CAMERA = CameraModel(W, H, (F, 0.0, W / 2.0, 0.0, F, H / 2.0, 0.0, 0.0, 1.0), (0.0,) * 5, "plumb_bob", "cam")


def ray(u: float, v: float) -> tuple[float, float]:
    """x/z and y/z of the ray through image point (u, v), boxes' convention (pixel i spans [i, i + 1))."""
    return (u - 0.5 - CAMERA.cx) / F, (v - 0.5 - CAMERA.cy) / F


def depth_mm(background_m: float = 3.0) -> np.ndarray:
    return np.full((H, W), round(background_m * 1000), np.uint16)


def test_camera_model_checks_and_calibration_file_round_trip():
    with pytest.raises(DepthError, match="positive fx"):
        CameraModel(W, H, (0.0,) * 9)
    with pytest.raises(DepthError, match="not positive"):
        CameraModel(0, H, CAMERA.k)
    with pytest.raises(DepthError, match="not supported"):
        CameraModel(W, H, CAMERA.k, (0.1, 0.0, 0.0, 0.0, 0.0), "kannala_brandt")
    text = yaml.safe_dump(CAMERA.to_calibration("synthetic"))
    data = yaml.safe_load(text)
    assert data["camera_matrix"] == {"rows": 3, "cols": 3, "data": list(CAMERA.k)}
    assert data["projection_matrix"]["data"][3] == 0.0 and len(data["projection_matrix"]["data"]) == 12
    assert CameraModel.from_calibration(data, "cam") == CAMERA
    with pytest.raises(DepthError, match="not a camera calibration"):
        CameraModel.from_calibration({"image_width": 3})


def test_normalized_rays_follow_the_box_convention_and_undistort():
    x, y = CAMERA.normalized(np.array([W / 2.0 + 0.5, 0.5]), np.array([H / 2.0 + 0.5, 0.5]))
    assert x[0] == y[0] == 0.0                       # the centre of the principal point's pixel
    assert x[1] == pytest.approx(-(W / 2.0) / F) and y[1] == pytest.approx(-(H / 2.0) / F)
    distorted = CameraModel(W, H, CAMERA.k, (-0.2, 0.05, 0.0, 0.0, 0.0))
    # a point at the image corner: barrel distortion pulled it inwards, undistortion pushes the ray outwards
    dx, _ = distorted.normalized(np.array([0.5]), np.array([0.5]))
    assert dx[0] < x[1]
    fisheye = CameraModel(W, H, CAMERA.k, (0.1, 0.0, 0.0, 0.0), "equidistant")
    fx_, _ = fisheye.normalized(np.array([0.5]), np.array([0.5]))
    assert np.isfinite(fx_[0]) and fx_[0] != x[1]


def test_depth_frames_take_both_encodings_and_mark_missing_readings():
    mm = np.array([[0, 1000], [2500, 65535]], np.uint16)
    frame = DepthFrame.from_array(mm, "16UC1")
    assert frame.scale == 0.001 and frame.encoding == "16UC1"
    metres = DepthFrame.from_array(np.array([[np.nan, 1.0], [np.inf, 2.5]], np.float32), "32FC1")
    assert metres.encoding == "32FC1"
    with pytest.raises(DepthError, match="encoding"):
        DepthFrame.from_array(mm, "bgr8")
    with pytest.raises(DepthError, match="2-D uint16"):
        DepthFrame.from_array(mm.astype(np.float32), "16UC1")


def test_an_object_is_its_nearest_surface_in_the_box_centre_pushed_back_to_its_centre():
    """A 40 x 40 px front face at 1.2 m in a box twice its size over a table-like background at 1.5 m: the
    background, flying pixels at the outline and a few near speckles do not move the position."""
    depth = depth_mm(1.5)
    depth[100:140, 140:180] = 1200
    rng = np.random.default_rng(0)
    ring = np.zeros((H, W), bool)
    ring[98:142, 138:182] = True
    ring[100:140, 140:180] = False
    flying = ring & (rng.random((H, W)) < 0.5)                   # values between the face and the background
    depth[flying] = rng.integers(1200, 1500, int(flying.sum()), dtype=np.uint16)
    depth[110, 150] = depth[125, 170] = 400                      # speckles nearer than the object
    depth[105:108, 145:148] = 0                                  # a hole
    box = Box(130.0, 90.0, 190.0, 150.0)                         # larger than the face: background inside
    entity = Entity("cup_1", EntityKind.OBJECT, "cup", box)
    out = DepthLocator().locate([entity], DepthFrame.from_array(depth, "16UC1"), CAMERA)[0]
    assert out.position is not None
    config = DepthConfig()
    half_width = min(box.width, box.height) / F * 1.2 / 2.0
    rx, ry = ray(160.0, 120.0)
    z = 1.2 + config.object_depth_offset * half_width / math.sqrt(rx * rx + ry * ry + 1.0)
    assert out.position == pytest.approx((rx * z, ry * z, z), abs=0.004)
    assert entity.position is None                               # the input is left as it was


def test_no_position_rather_than_a_wrong_one():
    """Too few readings on the entity (holes, a box outside the image) give None."""
    depth = depth_mm(1.5)
    depth[100:140, 140:180] = 0
    depth[118:120, 158:160] = 1200                               # four valid pixels in a 40 x 40 hole
    entities = [Entity("cup_1", EntityKind.OBJECT, "cup", Box(140.0, 100.0, 180.0, 140.0)),
                Entity("ball_2", EntityKind.OBJECT, "ball", Box(400.0, 300.0, 440.0, 340.0)),
                Entity("person_1", EntityKind.PERSON, "person", Box(10.0, 0.0, 120.0, 200.0))]  # head cut off
    out = DepthLocator().locate(entities, DepthFrame.from_array(depth, "16UC1"), CAMERA)
    assert [e.position for e in out] == [None, None, None]


def person_scene(depth: np.ndarray, head_u: float, head_top: int, z_head: float, z_torso: float,
                 arm_z: float | None = None) -> None:
    """Draw a person into depth (mm): a head 0.16 m wide whose top is at row head_top, a torso 0.4 m wide below
    it (its depth z_torso), optionally an arm across the chest at arm_z."""
    head_px = int(0.16 * F / z_head)
    head_h = int(0.22 * F / z_head)
    c0 = int(head_u - head_px / 2)
    depth[head_top:head_top + head_h, c0:c0 + head_px] = round(z_head * 1000)
    torso_px = int(0.4 * F / z_torso)
    t0 = int(head_u - torso_px / 2)
    depth[head_top + head_h:H, t0:t0 + torso_px] = round(z_torso * 1000)
    if arm_z is not None:
        chest_row = head_top + int(0.435 * F / z_torso)
        depth[chest_row - 4:chest_row + 4, t0 - 20:t0 + torso_px + 20] = round(arm_z * 1000)


def test_a_persons_position_is_the_chest_below_the_head_at_the_torsos_depth():
    depth = depth_mm(3.2)
    person_scene(depth, head_u=100.0, head_top=40, z_head=1.8, z_torso=1.95, arm_z=1.6)
    person_scene(depth, head_u=190.0, head_top=38, z_head=1.8, z_torso=1.95)     # a neighbour, a little taller
    box = Box(40.0, 40.0, 215.0, 230.0)           # arms spread: the box reaches over the neighbour's head
    wrists = [Keypoint("left_wrist", 60.0, 200.0, 0.9), Keypoint("right_wrist", 140.0, 205.0, 0.9)]
    person = Entity("person_1", EntityKind.PERSON, "person", box, keypoints=wrists)
    out = DepthLocator().locate([person], DepthFrame.from_array(depth, "16UC1"), CAMERA)[0]
    assert out.position is not None
    x, y, z = out.position
    head_x = ray(100.0, 0.0)[0] * 1.8
    top_y = ray(0.0, 40.0)[1] * 1.8
    assert x == pytest.approx(head_x, abs=0.02)                     # below its own head, not the neighbour's
    assert y == pytest.approx(top_y + DepthConfig().chest_below_head_top_m, abs=1e-6)
    assert z == pytest.approx(1.95, abs=0.01)                       # the torso behind the arm across it


def test_keypoints_get_3d_points_and_a_robot_is_where_its_gripper_is():
    depth = depth_mm(3.0)
    depth[150:170, 60:80] = 1000                                  # a wrist's forearm around (70, 160)
    depth[100:130, 200:204] = depth[100:130, 224:228] = 1400      # two fingers around a grip point at (214, 115)
    person = Entity("person_1", EntityKind.PERSON, "person", Box(0.0, 0.0, 100.0, 200.0),
                    keypoints=[Keypoint("left_wrist", 70.0, 160.0, 0.9), Keypoint("right_wrist", 5.0, 5.0, 0.0)])
    robot = Entity("robot_1", EntityKind.ROBOT, "robot", Box(190.0, 40.0, 300.0, 140.0),
                   keypoints=[Keypoint("gripper", 214.0, 115.0, 0.9)])
    c = DepthConfig()
    out = DepthLocator(c).locate([person, robot], DepthFrame.from_array(depth, "16UC1"), CAMERA)
    wrist, hidden = out[0].keypoints
    assert hidden.position is None                                # score 0: not visible
    rx, ry = ray(70.0, 160.0)
    z = 1.0 + c.keypoint_depth_offset_m / math.sqrt(rx * rx + ry * ry + 1.0)
    assert wrist.position == pytest.approx((rx * z, ry * z, z), abs=0.003)
    grip = out[1].keypoints[0].position
    assert grip is not None and grip[2] == pytest.approx(1.4 + c.gripper_depth_offset_m, abs=0.005)
    assert out[1].position == grip


def test_32fc1_with_nan_holes_gives_the_same_positions_as_16uc1():
    mm = depth_mm(1.5)
    mm[100:140, 140:180] = 1200
    mm[110:115, 150:160] = 0
    metres = mm.astype(np.float32) / 1000.0
    metres[mm == 0] = np.nan
    entity = Entity("cup_1", EntityKind.OBJECT, "cup", Box(130.0, 90.0, 190.0, 150.0))
    a = DepthLocator().locate([entity], DepthFrame.from_array(mm, "16UC1"), CAMERA)[0].position
    b = DepthLocator().locate([entity], DepthFrame.from_array(metres, "32FC1"), CAMERA)[0].position
    assert a is not None and b == pytest.approx(a, abs=1e-6)


def test_depth_and_camera_of_another_size_are_refused():
    small = DepthFrame.from_array(np.zeros((10, 10), np.uint16), "16UC1")
    with pytest.raises(DepthError, match="does not match"):
        DepthLocator().locate([], small, CAMERA)


class _OneCup:
    def detect(self, frame, stamp_ns):
        return [Detection(EntityKind.OBJECT, "cup", Box(130.0, 90.0, 190.0, 150.0), 0.9)]


class _Ids:
    def assign(self, frame, detections, stamp_ns):
        return [Entity(f"object_{i}", d.kind, d.label, d.box, d.confidence) for i, d in enumerate(detections)]


def test_the_pipeline_fills_positions_only_with_depth():
    frame = np.zeros((H, W, 3), np.uint8)
    mm = depth_mm(1.5)
    mm[100:140, 140:180] = 1200
    pipeline = PerceptionPipeline(_OneCup(), _Ids())
    plain = pipeline.process(frame, 5, "cam")
    assert plain.entities == _Ids().assign(frame, _OneCup().detect(frame, 5), 5)  # as without depth support
    assert "depth_ms" not in pipeline.stats.mean_ms()
    located = pipeline.process(frame, 6, "cam", DepthFrame.from_array(mm, "16UC1"), CAMERA)
    assert located.entities[0].position is not None and located.entities[0].position[2] > 1.2
    assert pipeline.stats.depth_frames == 1 and "depth_ms" in pipeline.stats.mean_ms()
    with pytest.raises(DepthError, match="same size"):
        pipeline.process(np.zeros((10, 10, 3), np.uint8), 7, "cam", DepthFrame.from_array(mm, "16UC1"), CAMERA)
