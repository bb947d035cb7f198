"""merge_ros.synth: folder layout, determinism, ground truth consistent with the rendered motion, realism."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from merge_ros.cli import main
from merge_ros.evaluation.protocol import Prediction, load_ground_truth, score_scene, summarize
from merge_ros.io.annotations import read_annotations
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.synth import Realism, generate_scene
from merge_ros.vocabulary import ACTIONS

FPS = 10.0


@pytest.fixture(scope="module")
def robot_scene(tmp_path_factory: pytest.TempPathFactory) -> SceneFolder:
    return generate_scene(tmp_path_factory.mktemp("s") / "sorting", "sorting", persons=2, robot=True, seed=5,
                          duration_s=15.0, fps=FPS)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory, robot_scene: SceneFolder) -> list[SceneFolder]:
    root = tmp_path_factory.mktemp("more")
    return [robot_scene,
            generate_scene(root / "pour", "pouring", persons=1, seed=1, duration_s=13.0, fps=12.0),
            generate_scene(root / "hand", "handover", persons=3, seed=3, duration_s=15.0, fps=FPS)]


def _frames(scene: SceneFolder) -> list:
    return list(read_annotations(scene.annotations_path))


def _events(scene: SceneFolder) -> list[tuple[str, float, dict]]:
    return [(p, float(s), e) for p, by in scene.ground_truth().items() for s, evs in by.items() for e in evs]


def _meta(scene: SceneFolder) -> dict:
    return json.loads((scene.root / "scene.json").read_text())


def test_layout_frames_and_stamps(robot_scene: SceneFolder) -> None:
    frames = robot_scene.frames()
    assert len(frames) == 150
    stamps = np.array([s for s, _ in frames])
    assert np.allclose(np.diff(stamps), 1.0 / FPS, atol=1e-6)
    assert 1.7e9 <= stamps[0] < 1.7e9 + 86_400
    img = cv2.imread(str(frames[0][1]))
    assert img.shape == (480, 640, 3)
    ann = _frames(robot_scene)
    assert [a.image for a in ann] == [f"images/{p.name}" for _, p in frames]
    assert [a.stamp for a in ann] == pytest.approx(list(stamps), abs=1e-6)
    assert set(robot_scene.person_images()) == {"person_1", "person_2"}
    assert set(robot_scene.robot_images()) == {"robot_1"}
    objects = robot_scene.object_images()
    assert set(objects) == {f"object_{k}" for k in range(1, len(objects) + 1)}
    labels = {e.id: e.label for a in ann for e in a.entities}
    assert labels["robot_1"] == "robot" and labels["person_1"] == "person"
    assert {labels[o] for o in objects} >= {"plate"}
    assert {labels[o] for o in objects} <= {"apple", "orange", "banana", "plate", "bowl", "bottle", "cup"}


def test_reference_crops_show_the_object(robot_scene: SceneFolder) -> None:
    """Each reference crop is small and centred on its object: the centre pixel differs from the table."""
    meta = _meta(robot_scene)
    for oid, path in robot_scene.object_images().items():
        crop = cv2.imread(str(path))
        assert 8 <= crop.shape[0] <= 120 and 8 <= crop.shape[1] <= 160, oid
        if meta["objects"][oid]["label"] in ("apple", "orange"):
            centre = crop[crop.shape[0] // 2, crop.shape[1] // 2].astype(int)
            corner = crop[1, 1].astype(int)
            assert np.abs(centre - corner).sum() > 60, oid
    person = cv2.imread(str(robot_scene.person_images()["person_1"]))
    assert person.shape[0] > 100 and person.shape[1] > 80


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = generate_scene(tmp_path / "a", "handover", persons=2, seed=7, duration_s=3.0)
    b = generate_scene(tmp_path / "b", "handover", persons=2, seed=7, duration_s=3.0)
    c = generate_scene(tmp_path / "c", "handover", persons=2, seed=8, duration_s=3.0)
    assert a.annotations_path.read_bytes() == b.annotations_path.read_bytes()
    assert a.ground_truth_path.read_bytes() == b.ground_truth_path.read_bytes()
    assert a.frames()[5][1].read_bytes() == b.frames()[5][1].read_bytes()
    assert a.annotations_path.read_bytes() != c.annotations_path.read_bytes()
    assert a.frames()[0][0] != c.frames()[0][0]


def test_ground_truth_refers_to_known_instances(scenes: list[SceneFolder]) -> None:
    for scene in scenes:
        stamps = {p.stem for _, p in scene.frames()}
        objects = set(scene.object_images())
        annotated = {e.id for a in _frames(scene) for e in a.entities}
        gt = scene.ground_truth()
        assert set(gt) == set(scene.person_images())
        assert set(gt) <= annotated
        for person, by_stamp in gt.items():
            first = min(by_stamp, key=float)
            assert by_stamp[first] == [{"object": "", "action": "idle", "robot_interaction": False, "on": ""}]
            for stamp, entries in by_stamp.items():
                assert stamp in stamps, (person, stamp)
                for e in entries:
                    assert set(e) <= {"object", "action", "robot_interaction", "on", "in"}
                    assert e["action"] in ACTIONS
                    for field in ("object", "on", "in"):
                        assert e.get(field, "") in objects | {""}, (person, stamp, e)
                    if e["action"] != "idle":
                        assert e["object"], e
        actions = {e["action"] for _, _, e in _events(scene)}
        assert {"grasp", "place_down"} <= actions or {"handover", "place_down"} <= actions


def test_scenarios_produce_their_events(scenes: list[SceneFolder]) -> None:
    robot, pour, hand = (_events(s) for s in scenes)
    assert any(e["action"] == "handover" and e["robot_interaction"] for _, _, e in robot)
    pours = [e for _, _, e in pour if e["action"] == "pour"]
    assert pours and all(e["in"] == e["on"] != "" for e in pours)
    assert {_meta(scenes[1])["objects"][pours[0]["object"]]["label"],
            _meta(scenes[1])["objects"][pours[0]["in"]]["label"]} == {"bottle", "cup"}
    handovers = [(p, e) for p, _, e in hand if e["action"] == "handover"]
    assert handovers and not any(e["robot_interaction"] for _, e in handovers)
    # a handed-over object was grasped by someone else before
    p, e = handovers[0]
    assert any(q != p and f["action"] == "grasp" and f["object"] == e["object"] for q, _, f in hand)


def test_non_idle_events_are_unique_per_person(scenes: list[SceneFolder]) -> None:
    """No person repeats an identical (action, object, on) event: shifted-copy scores are then predictable."""
    for scene in scenes:
        for person, by_stamp in scene.ground_truth().items():
            keys = [(e["action"], e["object"], e["on"]) for evs in by_stamp.values() for e in evs
                    if e["action"] != "idle"]
            assert len(keys) == len(set(keys)), person


def _at(frames: list, stamp: float):
    return min(frames, key=lambda a: abs(a.stamp - stamp))


def test_hands_are_at_the_object_when_it_changes_hands(scenes: list[SceneFolder]) -> None:
    """At a grasp or handover the actor's wrist keypoint lies at the object's box; after place_down the object
    rests on its support's box."""
    checked = {"hand": 0, "support": 0}
    for scene in scenes:
        frames = _frames(scene)
        for person, stamp, e in _events(scene):
            frame = _at(frames, stamp).entities
            ents = {x.id: x for x in frame}
            if e["action"] in ("grasp", "handover") and person in ents and e["object"] in ents:
                box = ents[e["object"]].box.expanded(4.0)
                wrist = min(ents[person].keypoints, key=lambda k: box.distance_to_point(k.x, k.y))
                assert box.distance_to_point(wrist.x, wrist.y) < 20.0, (scene.name, person, stamp, e)
                checked["hand"] += 1
            if e["action"] == "place_down" and e["on"] and e["object"] in ents and e["on"] in ents:
                cx, cy = ents[e["object"]].box.center
                assert ents[e["on"]].box.expanded(10.0).distance_to_point(cx, cy) == 0.0, (scene.name, e)
                checked["support"] += 1
    assert checked["hand"] >= 5 and checked["support"] >= 3


def test_objects_move_only_while_held(robot_scene: SceneFolder) -> None:
    """Between grasp and place_down the object's box moves; before its grasp it stays put (up to jitter)."""
    frames = _frames(robot_scene)
    for _, stamp, e in _events(robot_scene):
        if e["action"] != "grasp":
            continue
        centres = [(a.stamp, x.box.center) for a in frames for x in a.entities if x.id == e["object"]]
        before = np.array([c for t, c in centres if t <= stamp])
        after = np.array([c for t, c in centres if stamp < t <= stamp + 1.0])
        assert np.ptp(before, axis=0).max() < 12.0
        assert np.linalg.norm(after[-1] - before[-1]) > 15.0


def test_realism_occlusion_absence_and_misses(scenes: list[SceneFolder]) -> None:
    new_tracks, single_gaps = [], 0
    for scene in scenes:
        seen: dict[str, list[tuple[int, int]]] = {}
        for i, a in enumerate(_frames(scene)):
            for x in a.entities:
                seen.setdefault(x.id, []).append((i, x.track_id))
        for eid, hits in seen.items():
            for (i0, t0), (i1, t1) in zip(hits, hits[1:], strict=False):
                if i1 - i0 > 3:
                    assert t1 != t0, (eid, i0, i1)        # a tracker loses a track after a long absence
                    new_tracks.append((scene.name, eid))
                elif i1 - i0 == 2:
                    assert t1 == t0                      # ... but bridges a single missed frame
                    single_gaps += 1
    assert any(eid.startswith("object_") for _, eid in new_tracks)
    assert any(eid.startswith("person_") for _, eid in new_tracks)
    assert single_gaps >= 5


def test_realism_incidents_are_not_events(scenes: list[SceneFolder]) -> None:
    kinds = set()
    for scene in scenes:
        events = _events(scene)
        frames = _frames(scene)
        for inc in _meta(scene)["incidents"]:
            kinds.add(inc["kind"])
            t0, t1 = float(inc["start_stamp"]), float(inc["end_stamp"])
            mine = [e for p, t, e in events if p == inc["actor"] and t0 < t < t1 and e["action"] != "idle"]
            if inc["kind"] == "false_reach":
                assert mine == []
                person = [x for a in frames if t0 <= a.stamp <= t1 for x in a.entities if x.id == inc["actor"]]
                target = next(x for a in frames if a.stamp >= t0 for x in a.entities if x.id == inc["object"])
                gap = min(target.box.distance_to_point(k.x, k.y) for p in person for k in p.keypoints)
                assert gap < 40.0                         # the hand came close to it
            elif inc["kind"] == "pass_by":
                assert not any(e["on"] == inc["near"] for e in mine)
            elif inc["kind"] == "leave":
                present = [a.stamp for a in frames if any(x.id == inc["actor"] for x in a.entities)]
                assert any(t0 < t < t1 for t in np.arange(t0, t1, 0.1) if t not in present)
    assert kinds == {"false_reach", "pass_by", "leave"}


def test_box_jitter_and_clean_mode(tmp_path: Path, robot_scene: SceneFolder) -> None:
    frames = _frames(robot_scene)
    plate = next(o for o, m in _meta(robot_scene)["objects"].items() if m["label"] == "plate")
    xs = [x.box.x_min for a in frames[:10] for x in a.entities if x.id == plate]
    assert np.std(xs) > 0.3
    clean = generate_scene(tmp_path / "clean", "sorting", persons=1, seed=2, duration_s=2.0,
                           realism=Realism.clean())
    cf = _frames(clean)
    boxes = {x.id: x.box for x in cf[0].entities}
    for a in cf[1:]:
        for x in a.entities:
            if x.id.startswith("object_"):
                assert x.box == boxes[x.id]
    assert all({x.id for x in a.entities} == set(boxes) for a in cf)


def _predictions(scene: SceneFolder, shift: float) -> dict:
    return {p: [Prediction(t + shift, [e]) for t, e in evs if e["action"] != "idle"]
            for p, evs in load_ground_truth(scene.ground_truth_path).items()}


def test_evaluator_against_itself_and_shifted(scenes: list[SceneFolder]) -> None:
    for scene in scenes:
        gt = load_ground_truth(scene.ground_truth_path)
        assert summarize([score_scene(gt, _predictions(scene, 0.0), 5.0)])["f1"] == 1.0
        assert summarize([score_scene(gt, _predictions(scene, 2.0), 5.0)])["f1"] == 1.0
        late = summarize([score_scene(gt, _predictions(scene, 6.0), 5.0)])
        assert late["f1"] == 0.0 and late["TP"] == 0
        assert late["FN"] == sum(1 for evs in gt.values() for _, e in evs if e["action"] != "idle")


def test_cli_writes_a_scene(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["synth", "-o", str(out), "--scenario", "pouring", "--duration", "2", "--fps", "15",
                 "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 30 and report["scene"] == str(out)
    assert _meta(SceneFolder.open(out))["fps"] == 15.0
    assert main(["synth", "-o", str(out), "--duration", "2"]) == 2          # not empty, no --overwrite
    assert main(["synth", "-o", str(out), "--duration", "1", "--overwrite"]) == 0
    assert len(SceneFolder.open(out).frames()) == 10
    assert main(["synth", "-o", str(tmp_path / "x"), "--scenario", "handover"]) == 2   # one person, no robot


@pytest.mark.parametrize("kwargs", [{"scenario": "juggling"}, {"persons": 0}, {"persons": 4}, {"fps": 0.0},
                                    {"duration_s": -1.0}, {"width": 32}])
def test_bad_parameters(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_scene(tmp_path / "bad", **{"duration_s": 1.0, **kwargs})


def test_bad_realism() -> None:
    with pytest.raises(ValueError):
        Realism(miss_rate=1.5)
