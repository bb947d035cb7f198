"""The ROS-free perception core: the pipeline from detections to entities, and building it from parameters."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from merge_ros.config import load_config
from merge_ros.io.annotations import AnnotatedFrame, read_annotations, write_annotations
from merge_ros.params import ParameterError, resolve
from merge_ros.perception.annotations_detector import AnnotationsConfig, AnnotationsDetector
from merge_ros.perception.identity import IdentityConfig, IdentityGallery
from merge_ros.perception.parameters import PERCEPTION_PARAMETERS, build_pipeline
from merge_ros.perception.pipeline import PerceptionPipeline
from merge_ros.synth import generate_scene
from merge_ros.types import Box, Entity, EntityKind, Keypoint, seconds_to_ns

ROOT = Path(__file__).resolve().parents[1]

FRAME = np.zeros((48, 64, 3), np.uint8)


def _entities(i: int) -> list[Entity]:
    return [Entity("person_1", EntityKind.PERSON, "person", Box(1.0 + i, 2.0, 20.0, 40.0), 0.9,
                   [Keypoint("left_wrist", 3.0, 30.0, 0.8)], track_id=2),
            Entity("robot_1", EntityKind.ROBOT, "robot", Box(30.0, 0.0, 60.0, 40.0), 1.0, track_id=8)]


@pytest.fixture
def annotations(tmp_path):
    path = tmp_path / "annotations.jsonl"
    write_annotations(path, [AnnotatedFrame(10.0 + i * 0.1, "", _entities(i)) for i in range(5)])
    return path


def test_pipeline_turns_a_frame_into_an_entity_frame(annotations):
    pipeline = PerceptionPipeline(AnnotationsDetector(AnnotationsConfig(str(annotations), hint_ids=True)),
                                  IdentityGallery(IdentityConfig(use_hint_ids=True)))
    pipeline.process(FRAME, seconds_to_ns(10.0), "camera")
    out = pipeline.process(FRAME, seconds_to_ns(10.2), "camera")
    assert out.stamp_ns == seconds_to_ns(10.2) and out.frame_id == "camera"
    assert [(e.id, e.kind, e.box.x_min, e.keypoints, e.track_id) for e in out.entities] == [
        ("person_1", EntityKind.PERSON, 3.0, [Keypoint("left_wrist", 3.0, 30.0, 0.8)], 2),
        ("robot_1", EntityKind.ROBOT, 30.0, [], 8)]
    assert out.entities[0].track_age == pytest.approx(0.2)
    assert pipeline.process(FRAME, seconds_to_ns(11.0), "camera").entities == []  # no annotation there
    assert pipeline.stats.frames == 3 and pipeline.stats.detections == 4
    assert pipeline.stats.mean_ms()["detections_per_frame"] == pytest.approx(4 / 3)
    pipeline.frame_id = "override"
    assert pipeline.process(FRAME, seconds_to_ns(10.0), "camera").frame_id == "override"


def check(values: dict) -> dict:
    return resolve(PERCEPTION_PARAMETERS, values, "perception_node")


def build(**values):
    return build_pipeline(check(values))


def test_parameter_values_are_checked_with_the_parameters_name():
    values = check({"conf": 0.5, "iou": 1, "identity": {"use_hint_ids": True}})
    assert values["conf"] == 0.5 and values["detector"] == "ultralytics" and values["classes"] == ()
    assert values["iou"] == 1.0 and isinstance(values["iou"], float) and values["identity.use_hint_ids"] is True
    for bad, name in [({"conf": 1.5}, "conf"), ({"imgsz": 8}, "imgsz"), ({"detector": "magic"}, "detector"),
                      ({"confidence": 0.3}, "confidence"), ({"imgsz": "640"}, "imgsz"), ({"half": 1}, "half"),
                      ({"classes": "person"}, "classes"), ({"identity": {"match_similarity": 2.0}},
                                                            "identity.match_similarity")]:
        with pytest.raises(ParameterError) as err:
            check(bad)
        assert err.value.parameter == name
    with pytest.raises(ParameterError, match="is no parameter of perception_node"):
        check({"identity.match_similarty": 0.7})  # a typo is no silent default
    assert all(p.description for p in PERCEPTION_PARAMETERS.values())
    # each parameter has one declaration, a dataclass field; identity's sit under their prefix
    assert PERCEPTION_PARAMETERS["identity.match_similarity"].declared_in == \
        "merge_ros.perception.identity.IdentityConfig.match_similarity"
    assert len({p.declared_in for p in PERCEPTION_PARAMETERS.values()}) == len(PERCEPTION_PARAMETERS)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Two persons and a robot at a table, 3 s at 10 fps, with reference images and annotations."""
    return generate_scene(tmp_path_factory.mktemp("scene") / "scene", persons=2, robot=True, seed=3, duration_s=3.0)


def _run(pipeline, scene) -> tuple[list[tuple[str, str]], list[tuple[str, int]]]:
    """(persistent ID, true ID) and (true ID, raw track ID) for every entity of every frame."""
    truth = {f.stamp_ns: f for f in read_annotations(scene.annotations_path)}
    pairs, raw = [], []
    for stamp, path in scene.frames():
        out = pipeline.process(cv2.imread(str(path)), seconds_to_ns(stamp), "camera")
        want = truth[seconds_to_ns(stamp)].entities
        assert [e.box for e in out.entities] == [e.box for e in want]
        pairs += [(e.id, t.id) for e, t in zip(out.entities, want, strict=True)]
        raw += [(t.id, e.track_id) for e, t in zip(out.entities, want, strict=True)]
    return pairs, raw


def test_build_pipeline_registers_the_scene_and_takes_hint_ids(scene):
    pipeline = build(detector="annotations", scene_dir=str(scene.root), identity={"use_hint_ids": True})
    pairs, _ = _run(pipeline, scene)
    assert pairs and all(got == want for got, want in pairs)
    registered = set(pipeline.identity.ids())
    assert {"person_1", "person_2", "robot_1"} | set(scene.object_images()) <= registered


def test_persistent_ids_survive_scrambled_track_ids(scene):
    """The ID-switch setting: raw track IDs change after every gap, identity (no hints) keeps the true IDs."""
    pipeline = build(detector="annotations", scene_dir=str(scene.root), scramble_track_ids=True)
    pairs, raw = _run(pipeline, scene)
    raw_ids_per_instance = {t: len({r for tt, r in raw if tt == t}) for t, _ in raw}
    assert max(raw_ids_per_instance.values()) > 1  # the scrambling did switch raw IDs
    agreement = sum(got == want for got, want in pairs) / len(pairs)
    assert agreement >= 0.9, agreement


def test_the_config_files_section_builds_a_pipeline(scene):
    section = load_config(ROOT / "config" / "merge.yaml")["perception_node"]
    values = check(section)  # every name in the file is a parameter of the node
    assert values["model"] == section["model"]
    pipeline = build(**{**section, "detector": "annotations", "scene_dir": str(scene.root), "frame_id": "table"})
    stamp, path = scene.frames()[0]
    assert pipeline.process(cv2.imread(str(path)), seconds_to_ns(stamp), "camera").frame_id == "table"
