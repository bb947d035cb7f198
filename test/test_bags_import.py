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
from merge_ros.topics import BAG_IMAGE_TOPIC, BAG_REGISTRY_TOPICS, GROUND_TRUTH_TOPIC
from merge_ros.types import EntityKind, seconds_to_ns

START_S = 1_700_000_000.0
GROUND_TRUTH = {"person_1": {"1700000000.2": [{"object": "cup_1", "action": "grasp", "robot_interaction": False,
                                                "on": ""}]}}


def make_scene(root: Path, frames: int = 6, dt: float = 0.1, objects=("cup_1", "bowl_2"), persons=("person_1",),
               robots=(), ground_truth: bool = True, png_frames: bool = False, size: tuple[int, int] = (64, 48)
               ) -> Path:
    """A scene folder with distinct frames (JPEG or PNG), reference images and optionally ground truth."""
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
