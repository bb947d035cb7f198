"""The three bag commands together, as separate processes over DDS, on synthetic scenes (merge_ros.synth):
import-ground -> replay -> record gives back every frame, in order, with its stamp and bytes, plus the registry
and the ground truth."""
from __future__ import annotations

import subprocess
import sys

import pytest
from rosbags.rosbag2 import Reader
from test_bags_import import scene_frames

from merge_ros import cli
from merge_ros.io.ground_import import (
    read_ground_truth,
    read_registry,
)
from merge_ros.io.rostypes import typestore
from merge_ros.synth import generate_scene
from merge_ros.topics import BAG_IMAGE_TOPIC, BAG_REGISTRY_TOPICS, GROUND_TRUTH_TOPIC
from merge_ros.types import KINDS_BY_NAME

COMMAND = [sys.executable, "-m", "merge_ros.cli"]


@pytest.mark.parametrize("scene_args, timing", [
    # the bag's own timing (at twice the speed) and QoS: frames best effort
    ({"scenario": "handover", "persons": 2, "robot": True, "duration_s": 2.0, "fps": 10}, ["--rate", "2"]),
    # as fast as the recorder takes them, nothing lost
    ({"scenario": "sorting", "persons": 1, "duration_s": 6.0, "fps": 25}, ["--rate", "0", "--reliable"]),
], ids=["timed", "rate0-reliable"])
def test_import_replay_record_round_trip_of_a_synthetic_scene(tmp_path, scene_args, timing):
    scene = generate_scene(tmp_path / "scene", seed=3, **scene_args)
    assert cli.main(["import-ground", str(scene.root), "-o", str(tmp_path / "imported")]) == 0
    registry = {"object": scene.object_images(), "person": scene.person_images(), "robot": scene.robot_images()}
    topics = [BAG_IMAGE_TOPIC, GROUND_TRUTH_TOPIC,
              *(BAG_REGISTRY_TOPICS[KINDS_BY_NAME[kind]] for kind, ids in registry.items() if ids)]
    expected_count = len(scene.frames()) + sum(map(len, registry.values())) + 1
    recorder = subprocess.Popen([*COMMAND, "record", *topics, "-o", str(tmp_path / "recorded"),
                                 "--count", str(expected_count)], stderr=subprocess.PIPE, text=True)
    try:
        replay = subprocess.run([*COMMAND, "replay", str(tmp_path / "imported"), "--wait-subscribers",
                                 str(len(topics)), "--wait-timeout", "20", *timing],
                                capture_output=True, text=True, timeout=40)
        _, record_log = recorder.communicate(timeout=20)
    finally:
        recorder.kill()
    assert replay.returncode == 0, replay.stderr
    assert f"published {expected_count} message(s)" in replay.stderr
    assert recorder.returncode == 0, record_log

    store = typestore()
    with Reader(tmp_path / "recorded") as reader:
        frames = [(t, store.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()
                  if c.topic == BAG_IMAGE_TOPIC]
    expected = scene_frames(scene.root)
    assert [t for t, _ in frames] == [stamp for stamp, _ in expected]  # every frame, in order, at its stamp
    assert [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m in frames] == [t for t, _ in frames]
    assert [m.data.tobytes() for _, m in frames] == [data for _, data in expected]
    assert read_registry(tmp_path / "recorded") == {kind: {i: p.read_bytes() for i, p in ids.items()}
                                                    for kind, ids in registry.items()}
    assert read_ground_truth(tmp_path / "recorded") == scene.ground_truth()
