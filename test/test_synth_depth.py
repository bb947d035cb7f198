"""merge_ros.synth's depth: an aligned depth image per frame from the scene's own 3-D world, the camera's
calibration, true 3-D positions in the annotations, a sensor's artefacts, and colour frames left as they were."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from merge_ros.io.annotations import read_annotations
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.synth import Realism, generate_scene
from merge_ros.synth.camera import Camera
from merge_ros.synth.depth import Capsule, DepthSensor, Plane, axial_sigma_m, surface_depth
from merge_ros.types import EntityKind


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SceneFolder:
    return generate_scene(tmp_path_factory.mktemp("d") / "s", "handover", persons=2, robot=True, seed=11,
                          duration_s=2.0)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> SceneFolder:
    return generate_scene(tmp_path_factory.mktemp("c") / "s", "sorting", persons=2, robot=True, seed=4,
                          duration_s=1.5, realism=Realism.clean())


def _strip(line: str) -> dict:
    """An annotation line without the depth fields."""
    d = json.loads(line)
    d.pop("depth", None)
    for e in d["entities"]:
        e.pop("position", None)
        for k in e["keypoints"]:
            k.pop("position", None)
    return d


def test_every_frame_has_an_aligned_depth_image_camera_info_and_true_positions(scene: SceneFolder) -> None:
    frames = scene.frames()
    depth = scene.depth_frames()
    assert sorted(depth) == [s for s, _ in frames]
    values = cv2.imread(str(depth[frames[0][0]]), cv2.IMREAD_UNCHANGED)
    assert values.dtype == np.uint16 and values.shape == (480, 640)
    assert 300 < np.median(values[values > 0]) < 4000                 # millimetres, a room's depths
    assert scene.camera_model("camera") == Camera().model("camera")
    annotated = list(read_annotations(scene.annotations_path))
    assert [scene.root / f.depth for f in annotated] == [depth[s] for s, _ in frames]
    for f in annotated:
        assert set(f.positions) == {e.id for e in f.entities}
        for e in f.entities:
            assert 0.3 < f.positions[e.id][2] < 4.0
            if e.is_actor:
                assert set(f.keypoint_positions[e.id]) == {k.name for k in e.keypoints}
    assert json.loads((scene.root / "scene.json").read_text())["depth"] is True


def test_depth_changes_nothing_else_and_is_deterministic(tmp_path: Path, scene: SceneFolder) -> None:
    args = dict(scenario="handover", persons=2, robot=True, seed=11, duration_s=2.0)
    again = generate_scene(tmp_path / "again", **args)
    without = generate_scene(tmp_path / "without", depth=False, **args)
    for a, b in zip(scene.depth_frames().values(), again.depth_frames().values(), strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert not (without.root / "depth").exists() and without.camera_model() is None
    for a, b in zip(scene.frames(), without.frames(), strict=True):
        assert a[1].read_bytes() == b[1].read_bytes()                 # colour frames byte for byte
    lines = scene.annotations_path.read_text().splitlines()
    assert [_strip(x) for x in lines] == [json.loads(x) for x in without.annotations_path.read_text().splitlines()]
    assert (scene.root / "ground_truth.json").read_bytes() == (without.root / "ground_truth.json").read_bytes()
    assert list(read_annotations(without.annotations_path))[0].positions == {}


def test_clean_depth_shows_each_entity_where_its_true_point_is(clean: SceneFolder) -> None:
    """Exact depth (Realism.clean): at the pixel of an object's true centre the depth is its front surface, up to
    its radius (at most 0.12 m, a plate's) nearer, or a bowl's inside a little behind; at a person's chest the
    torso itself."""
    camera = clean.camera_model()
    assert camera is not None
    checked = {EntityKind.OBJECT: [], EntityKind.PERSON: []}
    for f in read_annotations(clean.annotations_path):
        depth = cv2.imread(str(clean.root / f.depth), cv2.IMREAD_UNCHANGED) / 1000.0
        for e in f.entities:
            x, y, z = f.positions[e.id]
            u, v = int(round(camera.fx * x / z + camera.cx)), int(round(camera.fy * y / z + camera.cy))
            if e.kind in checked and 0 <= u < 640 and 0 <= v < 480:
                checked[e.kind].append(z - depth[v, u])
    objects, persons = np.array(checked[EntityKind.OBJECT]), np.array(checked[EntityKind.PERSON])
    assert len(objects) > 100 and len(persons) > 20
    assert np.mean((objects > -0.02) & (objects < 0.12)) > 0.95      # occluded centres (an arm) are the rest
    assert np.mean(np.abs(persons) < 0.02) > 0.8


def test_ray_cast_surfaces_match_their_geometry() -> None:
    cam = Camera(160, 120)
    centre = cam.position + 1.5 * (np.subtract(cam.target, cam.position) / np.linalg.norm(
        np.subtract(cam.target, cam.position)))
    ids = np.zeros((120, 160), np.uint16)
    ids[50:70, 70:90] = 1
    ids[0:10, :] = 2
    ball = Capsule(centre, centre, 0.1, 0.1)
    wall = Plane(centre + [0, 1.0, 0], np.array([0.0, 1.0, 0.0]), np.array([centre + [d, 1.0, h] for d in (-9, 9)
                                                                            for h in (-9, 9)]))
    depth = surface_depth(cam, [ball, wall], ids, np.full((120, 160), 9.0, np.float32))
    assert depth[60, 80] == pytest.approx(1.5 - 0.1, abs=0.002)      # the ball's front, on the optical axis
    assert depth[100, 10] == 9.0                                       # background where no surface drew
    assert 1.4 < depth[50, 70] < 1.5                                   # the ball's outline, farther than its front
    rays = np.column_stack([(np.arange(160) - 80) / cam.focal, np.full(160, (5 - 60) / cam.focal), np.ones(160)])
    world = rays @ cam.axes
    t = (centre[1] + 1.0 - cam.position[1]) / world[:, 1]              # the wall plane y = const
    np.testing.assert_allclose(depth[5], t, rtol=1e-4)


def test_the_sensor_has_noise_growing_with_distance_holes_and_flying_pixels() -> None:
    truth = np.full((200, 200), 3.0, np.float32)
    truth[:, :100] = 1.0
    sensor = DepthSensor(np.random.default_rng(0), 200, 200, 500.0, Realism())
    reading = sensor(truth) / 1000.0
    near, far = reading[:, 10:90], reading[:, 110:190]
    err_near, err_far = (near[near > 0] - 1.0), (far[far > 0] - 3.0)
    assert err_far.std() > 3 * err_near.std()                         # noise grows with distance
    assert err_far.std() == pytest.approx(axial_sigma_m(3.0), rel=0.5)
    assert 0.005 < np.mean(reading[:, 10:190] == 0) < 0.06            # dropout holes
    edge = reading[:, 98:102]
    assert np.mean(edge == 0) > 0.2                                   # holes along the depth edge
    assert np.mean((edge > 1.1) & (edge < 2.9)) > 0.1                 # flying pixels between the two sides
    exact = DepthSensor(np.random.default_rng(0), 200, 200, 500.0, Realism.clean())(truth)
    assert set(np.unique(exact)) == {1000, 3000}


@pytest.mark.parametrize("kwargs", [{"depth_noise": -1.0}, {"depth_dropout": 1.0},
                                    {"depth_edge_holes": 0.7, "depth_flying": 0.5}])
def test_bad_depth_realism(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="depth"):
        Realism(**kwargs)
