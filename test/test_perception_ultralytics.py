"""The ultralytics detector with real architectures (random weights): classes to kinds, wrists, tracking, errors,
and the whole path through perception_node over DDS.

Random weights detect nothing useful, so the end-to-end tests use models whose last layers are set by hand:
box regression zeroed (every anchor's box is the same fixed size around it) and class biases chosen per
feature level (stride 8 -> person, 16 -> cup, 32 -> bottle, which the tests configure as a robot class). The
pose model gets the same person level, so its boxes coincide with the detector's person boxes and the wrists
it predicts must be attached to exactly those persons. The models are saved as .pt files and loaded by path,
as on a robot.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ultralytics import YOLO
from ultralytics.engine.results import Results

from merge_ros.params import ParameterError
from merge_ros.perception.ultralytics_detector import (
    UltralyticsConfig,
    UltralyticsDetector,
    attach_wrists,
    class_names,
)
from merge_ros.types import Box, EntityKind

PERSON, BOTTLE, CUP = 0, 39, 41
IMGSZ = 160
FRAME = np.full((120, 160, 3), 127, np.uint8)


def set_head(model: YOLO, class_bias_by_level: dict[int, dict[int, float]]) -> YOLO:
    """Fix the detection head: fixed-size boxes around every anchor, class scores chosen per level."""
    head = model.model.model[-1]
    with torch.no_grad():
        for level in range(len(head.stride)):
            cls = head.cv3[level][-1]
            cls.weight.zero_()
            cls.bias.fill_(-10.0)
            for c, bias in class_bias_by_level.get(level, {}).items():
                cls.bias[c] = bias
            box = head.cv2[level][-1]
            box.weight.zero_()
            box.bias.zero_()
    return model


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    detector = set_head(YOLO("yolo11n.yaml"), {0: {PERSON: 1.0}, 1: {CUP: 4.0}, 2: {BOTTLE: 3.0}})
    detector.model.names = class_names(detector)  # a trained .pt carries its names; this one gets COCO's
    detector.save(folder / "detector.pt")
    torch.manual_seed(1)
    set_head(YOLO("yolo11n-pose.yaml"), {0: {0: 1.0}}).save(folder / "pose.pt")
    return folder / "detector.pt", folder / "pose.pt"


@pytest.fixture(scope="module")
def plain_model():
    return YOLO("yolo11n.yaml")


def _boxes(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_classes_map_to_kinds_and_labels(plain_model):
    det = UltralyticsDetector(UltralyticsConfig(model="yolo11n.yaml", pose_model="", robot_classes=["bottle"],
                                                tracker=""), model=plain_model)
    assert det.names[PERSON] == "person" and det.names[CUP] == "cup"  # a .yaml build gets COCO's names
    result = Results(FRAME, "", det.names, boxes=_boxes([[1, 2, 30, 60, 0.9, PERSON], [40, 40, 50, 52, 0.5, CUP],
                                                        [90, 10, 150, 110, 0.75, BOTTLE]]))
    got = det.to_detections(result)
    assert [(d.kind, d.label, d.track_id, d.keypoints) for d in got] == [
        (EntityKind.PERSON, "person", -1, []), (EntityKind.OBJECT, "cup", -1, []), (EntityKind.ROBOT, "bottle", -1, [])]
    assert got[0].box == Box(1.0, 2.0, 30.0, 60.0)
    assert got[1].confidence == pytest.approx(0.5)
    tracked = Results(FRAME, "", det.names, boxes=_boxes([[1, 2, 30, 60, 12, 0.9, PERSON]]))  # with a track ID
    assert det.to_detections(tracked)[0].track_id == 12
    assert det.to_detections(Results(FRAME, "", det.names, boxes=torch.zeros((0, 6)))) == []


def test_wrists_go_to_the_overlapping_person_only():
    names = {0: "person"}
    kpts = torch.zeros((2, 17, 3))
    kpts[0, 9], kpts[0, 10] = torch.tensor([12.0, 40.0, 0.9]), torch.tensor([25.0, 41.0, 0.4])
    kpts[1, 9], kpts[1, 10] = torch.tensor([70.0, 20.0, 0.8]), torch.tensor([80.0, 21.0, 0.7])
    pose = Results(FRAME, "", names, boxes=_boxes([[2, 2, 31, 61, 0.8, 0], [60, 0, 90, 50, 0.8, 0]]), keypoints=kpts)
    from merge_ros.perception.detection import Detection

    near = Detection(EntityKind.PERSON, "person", Box(1, 2, 30, 60))
    far = Detection(EntityKind.PERSON, "person", Box(100, 60, 150, 118))
    cup = Detection(EntityKind.OBJECT, "cup", Box(60, 0, 90, 50))  # overlaps pose 2, but is no person
    attach_wrists([near, far, cup], pose, min_iou=0.5)
    assert [(k.name, k.x, k.y, k.score) for k in near.keypoints] == [
        ("left_wrist", 12.0, 40.0, pytest.approx(0.9)), ("right_wrist", 25.0, 41.0, pytest.approx(0.4))]
    assert far.keypoints == [] and cup.keypoints == []


def test_detect_tracks_and_attaches_the_pose_models_wrists(model_files):
    detector_pt, pose_pt = model_files
    det = UltralyticsDetector(UltralyticsConfig(model=str(detector_pt), pose_model=str(pose_pt), imgsz=IMGSZ,
                                                robot_classes=["bottle"], max_det=300))
    frames = [det.detect(FRAME, i) for i in range(3)]
    got = frames[-1]
    kinds = {(d.label, d.kind) for d in got}
    assert kinds == {("person", EntityKind.PERSON), ("cup", EntityKind.OBJECT), ("bottle", EntityKind.ROBOT)}
    assert all(d.track_id >= 1 for d in got)
    assert len({d.track_id for d in got}) == len(got)
    assert [d.track_id for d in frames[1]] == [d.track_id for d in got]  # same scene, same tracks
    reference = det.pose.predict(FRAME, imgsz=IMGSZ, conf=0.25, max_det=300, verbose=False)[0]
    ref_wrists = {(round(float(x), 2), round(float(y), 2))
                  for x, y in reference.keypoints.data[:, 9:11, :2].reshape(-1, 2)}
    persons = [d for d in got if d.kind is EntityKind.PERSON]
    assert persons
    for p in persons:
        assert [k.name for k in p.keypoints] == ["left_wrist", "right_wrist"]
        assert {(round(k.x, 2), round(k.y, 2)) for k in p.keypoints} <= ref_wrists
    assert all(d.keypoints == [] for d in got if d.kind is not EntityKind.PERSON)


def test_a_pose_model_as_detector_gives_wrists_in_one_pass(model_files):
    _, pose_pt = model_files
    det = UltralyticsDetector(UltralyticsConfig(model=str(pose_pt), pose_model="never_loaded.pt", imgsz=IMGSZ,
                                                tracker=""))
    assert det.pose is None
    got = det.detect(FRAME, 0)
    assert got and all(d.kind is EntityKind.PERSON and len(d.keypoints) == 2 for d in got)


@pytest.mark.parametrize(("overrides", "parameter"), [
    ({"model": "/no/such/folder/yolo.pt"}, "model"),
    ({"model": "no_such_model.pt"}, "model"),
    ({"model": ""}, "model"),
    ({"model": "yolo11n.yaml", "pose_model": "/no/such/pose.pt"}, "pose_model"),
    ({"model": "yolo11n.yaml", "pose_model": "yolo11n.yaml"}, "pose_model"),
    ({"model": "yolo11n.yaml", "classes": ["person", "unicorn"]}, "classes"),
    ({"model": "yolo11n.yaml", "robot_classes": ["robot arm"]}, "robot_classes"),
    ({"model": "yolo11n.yaml", "tracker": "no_such_tracker.yaml"}, "tracker"),
])
def test_unusable_settings_raise_one_error_naming_the_parameter(overrides, parameter):
    with pytest.raises(ParameterError) as err:
        UltralyticsDetector(UltralyticsConfig(imgsz=64, **{"pose_model": "", **overrides}))
    assert err.value.parameter == parameter
    assert str(err.value).startswith(f"parameter '{parameter}': ")


def test_classes_filter_keeps_only_the_named_classes(model_files):
    detector_pt, _ = model_files
    det = UltralyticsDetector(UltralyticsConfig(model=str(detector_pt), pose_model="", imgsz=IMGSZ, classes=["cup"],
                                                robot_classes=["bottle"], tracker="", max_det=300))
    assert {d.label for d in det.detect(FRAME, 0)} == {"cup", "bottle"}


def test_rt_detr_builds_from_its_yaml_and_detects():
    det = UltralyticsDetector(UltralyticsConfig(model="rtdetr-l.yaml", pose_model="", imgsz=IMGSZ, conf=0.0, max_det=5,
                                                tracker=""))
    assert type(det.model).__name__ == "RTDETR" and det.names[CUP] == "cup"
    got = det.detect(FRAME, 0)
    assert len(got) == 5
    assert all(d.kind is (EntityKind.PERSON if d.label == "person" else EntityKind.OBJECT) for d in got)


def test_perception_node_over_dds_with_the_ultralytics_backend(ros_context, model_files):
    from test_perception_node import FrameRecorder, Harness

    from merge_ros.ros import conversions

    detector_pt, pose_pt = model_files
    h = Harness(ros_context, {"detector": "ultralytics", "model": str(detector_pt), "pose_model": str(pose_pt),
                              "imgsz": IMGSZ, "robot_classes": ["bottle"], "max_det": 300, "device": "cpu"})
    try:
        recorder = h.node.pipeline.detector = FrameRecorder(h.node.pipeline.detector)
        stamps = [1_700_000_000_000_000_000 + i * 100_000_000 for i in range(3)]
        outs = [conversions.entity_frame_from_msg(h.send(conversions.image_msg(FRAME[:, :, ::-1].copy(), "rgb8", s,
                                                                               "cam"))) for s in stamps]
    finally:
        h.close()
    assert [o.stamp_ns for o in outs] == stamps and {o.frame_id for o in outs} == {"cam"}
    np.testing.assert_array_equal(recorder.frames[-1], FRAME)
    last = outs[-1].entities
    assert {(e.label, e.kind) for e in last} == {
        ("person", EntityKind.PERSON), ("cup", EntityKind.OBJECT), ("bottle", EntityKind.ROBOT)}
    assert len({e.id for e in last}) == len(last) and all(e.track_id >= 1 for e in last)
    assert all(0.0 <= e.box.x_min < e.box.x_max <= FRAME.shape[1] for e in last)
    assert all(e.confidence > 0.5 for e in last)
    persons = [e for e in last if e.kind is EntityKind.PERSON]
    assert persons and all([k.name for k in p.keypoints] == ["left_wrist", "right_wrist"] for p in persons)
    assert all(e.keypoints == [] for e in last if e.kind is not EntityKind.PERSON)
    # persistent IDs follow the tracks from frame to frame
    by_track = [{e.track_id: e.id for e in o.entities} for o in outs[1:]]
    assert by_track[0] == by_track[1]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino", "openvino_int8"])
def test_exported_models_keep_the_detections_tracks_and_wrists(model_files, fmt):
    """The export recipe of `bench perception --format` (a fixed input of the frame's letterboxed shape): the
    exported detector and pose model, loaded by path as perception_node loads them, give the .pt's detections,
    track IDs and wrists. (int8 changes the numbers in general; this head's outputs are dominated by fixed biases,
    so here it must give the same ones too.)"""
    from merge_ros.bench.perception import export_model, letterboxed_shape

    def run(model, pose):
        det = UltralyticsDetector(UltralyticsConfig(model=str(model), pose_model=str(pose), imgsz=IMGSZ,
                                                    robot_classes=["bottle"], max_det=300))
        last = [det.detect(FRAME, i) for i in range(3)][-1]
        return [(d.label, d.kind, d.track_id, [round(v, 1) for v in d.box.as_list()],
                 [(k.name, round(k.x, 1), round(k.y, 1)) for k in d.keypoints]) for d in last]

    detector_pt, pose_pt = model_files
    shape = letterboxed_shape(FRAME.shape[1], FRAME.shape[0], IMGSZ)
    assert shape == (128, 160)  # 160 x 120 scaled by 1, height padded to the stride
    folder = detector_pt.parent / fmt
    folder.mkdir()
    exported = []
    for weights in (detector_pt, pose_pt):
        copy = folder / weights.name  # each format's exports beside their own copy of the weights
        copy.write_bytes(weights.read_bytes())
        exported.append(export_model(str(copy), fmt, shape, [FRAME] * 4))
    reference, got = run(detector_pt, pose_pt), run(*exported)
    assert got == reference
    assert any(keypoints for *_, keypoints in got) and len({track for _, _, track, _, _ in got}) == len(got)


def test_a_model_name_to_download_without_network_is_refused_at_once(monkeypatch):
    import ultralytics.utils.downloads as downloads

    from merge_ros.perception.ultralytics_detector import locate_model

    attempts = []
    monkeypatch.setattr(downloads, "safe_download", lambda *a, **k: attempts.append(a))
    monkeypatch.setenv("YOLO_OFFLINE", "1")  # Ultralytics' own switch: is_online() is then False, asked nothing
    with pytest.raises(ParameterError) as err:
        UltralyticsDetector(UltralyticsConfig(model="yolo11s.pt", pose_model="", imgsz=64))
    assert err.value.parameter == "model" and "yolo11s.pt" in str(err.value)
    assert "no network to download it" in str(err.value) and "copy the file" in str(err.value)
    assert attempts == []
    assert locate_model("yolo11n.yaml", "model").name == "yolo11n.yaml"  # configurations ship with Ultralytics
