"""ID switches of persistent identity on synthetic scenes with occlusions, exits and returns.

Each scene goes through the annotations detector with its raw track IDs scrambled (a new one after every gap, as
a weak tracker would give), no hint IDs, frames read with OpenCV and the scene's reference images registered.
"""
from __future__ import annotations

import pytest

from merge_ros.bench.identity import run_annotated_scene
from merge_ros.perception.embedding import MobileNetV2Embedder
from merge_ros.synth import generate_scene


@pytest.fixture(scope="module")
def embedder() -> MobileNetV2Embedder:
    return MobileNetV2Embedder()


@pytest.mark.parametrize(("scenario", "persons", "robot", "seed"),
                         [("sorting", 2, False, 0), ("pouring", 2, False, 1), ("handover", 2, True, 1)])
def test_no_id_switches_through_scrambled_tracks(tmp_path, embedder, scenario, persons, robot, seed):
    scene = generate_scene(tmp_path / "scene", scenario=scenario, persons=persons, robot=robot, seed=seed,
                           duration_s=30.0)
    figures = run_annotated_scene(scene.root, embedder=embedder)
    print(figures)
    # The scene must actually test something: instances lose their raw track ID many times.
    assert figures["raw_track_changes"] >= 10
    assert figures["registered"] == (len(scene.object_images()) + len(scene.person_images())
                                     + len(scene.robot_images()))
    assert figures["id_switches"] == 0
    assert figures["id_accuracy"] == pytest.approx(1.0)
