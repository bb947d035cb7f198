"""import-ground: a GROUND scene folder becomes a bag with every frame at its stamp, the registry and the ground truth.

`make_scene` here builds the small scene folders the other test_bags_* files use too.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader

from merge_ros import cli
from merge_ros.io.bags import BagError
from merge_ros.io.ground_import import (
    import_scene,
    read_ground_truth,
    read_registry,
)
from merge_ros.io.rostypes import typestore
from merge_ros.io.scene_folder import NotASceneError
from merge_ros.perception.depth import CameraModel
from merge_ros.topics import (
    BAG_CAMERA_INFO_TOPIC,
    BAG_DEPTH_TOPIC,
    BAG_IMAGE_TOPIC,
    BAG_REGISTRY_TOPICS,
    GROUND_TRUTH_TOPIC,
)
from merge_ros.types import EntityKind, seconds_to_ns

START_S = 1_700_000_000.0
CAMERA = CameraModel(64, 48, (50.0, 0.0, 32.0, 0.0, 50.0, 24.0, 0.0, 0.0, 1.0), (0.0,) * 5)
GROUND_TRUTH = {"person_1": {"1700000000.2": [{"object": "cup_1", "action": "grasp", "robot_interaction": False,
                                                "on": ""}]}}


def make_scene(root: Path, frames: int = 6, dt: float = 0.1, objects=("cup_1", "bowl_2"), persons=("person_1",),
               robots=(), ground_truth: bool = True, png_frames: bool = False, size: tuple[int, int] = (64, 48),
               depth: bool = False) -> Path:
    """A scene folder with distinct frames (JPEG or PNG), reference images, optionally ground truth, and optionally
    a distinct 16-bit depth image per frame with camera_info.yaml."""
    (root / "images").mkdir(parents=True)
    texture = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(frames):
        frame = np.roll(texture, 3 * i, axis=1)
        cv2.putText(frame, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        cv2.imwrite(str(root / "images" / f"{START_S + i * dt:.6f}{'.png' if png_frames else '.jpg'}"), frame)
    for folder, ids in (("object_images", objects), ("person_images", persons), ("robot_images", robots)):
        (root / folder).mkdir()
        for n, instance in enumerate(ids):
            cv2.imwrite(str(root / folder / f"{instance}.jpg"), np.full((24, 16, 3), 40 * n, np.uint8))
    if ground_truth:
        (root / "ground_truth.json").write_text(json.dumps(GROUND_TRUTH))
    if depth:
        (root / "depth").mkdir()
        for i in range(frames):
            values = (np.arange(size[0] * size[1], dtype=np.uint16).reshape(size[1], size[0]) + 1000 * i)
            cv2.imwrite(str(root / "depth" / f"{START_S + i * dt:.6f}.png"), values)
        (root / "camera_info.yaml").write_text(yaml.safe_dump(CAMERA.to_calibration()))
    return root


def scene_frames(root: Path) -> list[tuple[int, bytes]]:
    """(stamp ns, file bytes) of a scene's frames in time order, computed independently of the importer."""
    paths = sorted((root / "images").iterdir(), key=lambda p: float(p.stem))
    return [(seconds_to_ns(float(p.stem)), p.read_bytes()) for p in paths]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_import_writes_every_frame_at_its_stamp_then_registry_and_ground_truth(tmp_path, storage):
    scene = make_scene(tmp_path / "scene_001", robots=("robot_1",))
    summary = import_scene(scene, tmp_path / "bag", storage)
    store = typestore()
    with Reader(tmp_path / "bag") as reader:  # rosbags directly, not our reader
        types = {c.topic: c.msgtype for c in reader.connections}
        qos = {c.topic: c.ext.offered_qos_profiles[0] for c in reader.connections}
        rows = [(c.topic, t, store.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()]
    assert types == {BAG_IMAGE_TOPIC: "sensor_msgs/msg/CompressedImage", GROUND_TRUTH_TOPIC: "std_msgs/msg/String",
                     **{t: "sensor_msgs/msg/CompressedImage" for t in BAG_REGISTRY_TOPICS.values()}}
    expected = scene_frames(scene)
    frames = [(t, m) for topic, t, m in rows if topic == BAG_IMAGE_TOPIC]
    assert [t for t, _ in frames] == [s for s, _ in expected]
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in frames] == [s for s, _ in expected]
    assert [m.data.tobytes() for _, m in frames] == [data for _, data in expected]  # the files' bytes, as they are
    assert {(m.format, m.header.frame_id) for _, m in frames} == {("jpeg", "camera")}
    # registry and ground truth come first, at the first frame's time
    first_frame = next(i for i, row in enumerate(rows) if row[0] == BAG_IMAGE_TOPIC)
    assert {row[0] for row in rows[:first_frame]} == {*BAG_REGISTRY_TOPICS.values(), GROUND_TRUTH_TOPIC}
    assert {row[1] for row in rows[:first_frame]} == {expected[0][0]}
    assert qos[BAG_REGISTRY_TOPICS[EntityKind.OBJECT]].durability == QosDurability.TRANSIENT_LOCAL
    assert qos[BAG_REGISTRY_TOPICS[EntityKind.OBJECT]].reliability == QosReliability.RELIABLE
    assert qos[BAG_REGISTRY_TOPICS[EntityKind.OBJECT]].depth >= 2
    assert qos[GROUND_TRUTH_TOPIC].durability == QosDurability.TRANSIENT_LOCAL
    assert qos[BAG_IMAGE_TOPIC].reliability == QosReliability.BEST_EFFORT

    registry = read_registry(tmp_path / "bag")
    assert registry == {
        "object": {p.stem: p.read_bytes() for p in (scene / "object_images").iterdir()},
        "person": {"person_1": (scene / "person_images" / "person_1.jpg").read_bytes()},
        "robot": {"robot_1": (scene / "robot_images" / "robot_1.jpg").read_bytes()},
    }
    assert read_ground_truth(tmp_path / "bag") == GROUND_TRUTH
    assert (summary.frames, summary.registry, summary.ground_truth) == (6, {"object": 2, "person": 1, "robot": 1},
                                                                         True)


def test_png_frames_keep_their_format_and_absent_parts_are_not_written(tmp_path):
    scene = make_scene(tmp_path / "s", frames=3, persons=(), ground_truth=False, png_frames=True)
    import_scene(scene, tmp_path / "bag")
    store = typestore()
    with Reader(tmp_path / "bag") as reader:
        assert {c.topic for c in reader.connections} == {BAG_IMAGE_TOPIC, BAG_REGISTRY_TOPICS[EntityKind.OBJECT]}
        formats = [store.deserialize_cdr(raw, c.msgtype).format for c, _, raw in reader.messages()
                   if c.topic == BAG_IMAGE_TOPIC]
    assert formats == ["png"] * 3
    assert read_registry(tmp_path / "bag")["person"] == {}
    assert read_ground_truth(tmp_path / "bag") is None


def test_unreadable_files_are_skipped_and_reported(tmp_path):
    scene = make_scene(tmp_path / "s", frames=4)
    broken = scene / "images" / f"{START_S + 0.15:.6f}.jpg"
    broken.write_bytes(b"not a jpeg at all")
    (scene / "object_images" / "ghost_9.jpg").write_bytes(b"")
    summary = import_scene(scene, tmp_path / "bag")
    assert sorted(summary.skipped) == sorted([broken, scene / "object_images" / "ghost_9.jpg"])
    assert summary.frames == 4
    assert sorted(read_registry(tmp_path / "bag")["object"]) == ["bowl_2", "cup_1"]


@pytest.mark.parametrize("case, message", [
    ("missing", "not a directory"),
    ("no_images", "no frames"),
    ("only_broken_images", "JPEG or PNG"),
    ("bad_ground_truth", "ground_truth.json: not valid JSON"),
])
def test_a_folder_that_is_not_a_scene_gives_a_clear_error_and_no_bag(tmp_path, case, message, caplog):
    root = tmp_path / "scene"
    if case == "no_images":
        (root / "object_images").mkdir(parents=True)
    elif case == "only_broken_images":
        (root / "images").mkdir(parents=True)
        (root / "images" / "1700000000.0.jpg").write_bytes(b"\x00" * 32)
    elif case == "bad_ground_truth":
        make_scene(root, frames=2)
        (root / "ground_truth.json").write_text("{not json")
    with pytest.raises(NotASceneError, match=message):
        import_scene(root, tmp_path / "bag")
    assert not (tmp_path / "bag").exists()
    with caplog.at_level(logging.ERROR):
        assert cli.main(["import-ground", str(root), "-o", str(tmp_path / "bag")]) == 2
    assert message in caplog.text
    assert not (tmp_path / "bag").exists()


def test_an_existing_output_is_refused(tmp_path):
    scene = make_scene(tmp_path / "s", frames=2)
    (tmp_path / "bag").mkdir()
    with pytest.raises(BagError, match="exists already"):
        import_scene(scene, tmp_path / "bag")
    with pytest.raises(BagError, match="unknown storage"):
        import_scene(scene, tmp_path / "bag2", storage="rosbag1")


def test_depth_and_camera_info_go_with_each_frame(tmp_path):
    scene = make_scene(tmp_path / "s", frames=4, depth=True)
    (scene / "depth" / f"{START_S + 0.3:.6f}.png").write_bytes(cv2.imencode(".png", np.zeros((48, 64), np.uint8))[1])
    summary = import_scene(scene, tmp_path / "bag")
    store = typestore()
    with Reader(tmp_path / "bag") as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        qos = {c.topic: c.ext.offered_qos_profiles[0] for c in reader.connections}
        rows = [(c.topic, t, store.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()]
    assert types[BAG_DEPTH_TOPIC] == "sensor_msgs/msg/Image"
    assert types[BAG_CAMERA_INFO_TOPIC] == "sensor_msgs/msg/CameraInfo"
    assert qos[BAG_DEPTH_TOPIC].reliability == QosReliability.BEST_EFFORT
    stamps = [s for s, _ in scene_frames(scene)]
    infos = [(t, m) for topic, t, m in rows if topic == BAG_CAMERA_INFO_TOPIC]
    assert [t for t, _ in infos] == stamps
    _, info = infos[0]
    assert (info.width, info.height, info.header.frame_id, list(info.k)) == (64, 48, "camera", list(CAMERA.k))
    assert list(info.p) == list(CAMERA.p) and list(info.r) == list(CAMERA.r)
    depth = [(t, m) for topic, t, m in rows if topic == BAG_DEPTH_TOPIC]
    assert [t for t, _ in depth] == stamps[:3]                   # the last depth file is 8-bit: skipped
    assert summary.skipped == [scene / "depth" / f"{START_S + 0.3:.6f}.png"]
    assert (summary.depth_frames, summary.camera_info) == (3, True)
    for i, (t, m) in enumerate(depth):
        assert (m.encoding, m.is_bigendian, m.step, m.header.frame_id) == ("16UC1", 0, 128, "camera")
        assert m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == t
        expected = cv2.imread(str(scene / "depth" / f"{START_S + i * 0.1:.6f}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(m.data.view("<u2").reshape(48, 64), expected)
    order = [topic for topic, t, _ in rows if t == stamps[0] and topic in (BAG_IMAGE_TOPIC, BAG_CAMERA_INFO_TOPIC,
                                                                         BAG_DEPTH_TOPIC)]
    assert order == [BAG_IMAGE_TOPIC, BAG_CAMERA_INFO_TOPIC, BAG_DEPTH_TOPIC]


def test_depth_without_a_camera_calibration_is_not_written(tmp_path):
    scene = make_scene(tmp_path / "s", frames=2, depth=True)
    (scene / "camera_info.yaml").unlink()
    summary = import_scene(scene, tmp_path / "bag")
    with Reader(tmp_path / "bag") as reader:
        topics = {c.topic for c in reader.connections}
    assert BAG_DEPTH_TOPIC not in topics and BAG_CAMERA_INFO_TOPIC not in topics
    assert (summary.depth_frames, summary.camera_info) == (0, False)


def test_an_unreadable_camera_calibration_is_a_clear_error_and_no_bag(tmp_path):
    scene = make_scene(tmp_path / "s", frames=2, depth=True)
    (scene / "camera_info.yaml").write_text("image_width: 64\n")
    with pytest.raises(NotASceneError, match="camera_info.yaml"):
        import_scene(scene, tmp_path / "bag")
    assert not (tmp_path / "bag").exists()
