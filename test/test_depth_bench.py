"""`merge-ros bench depth`'s core on a tiny synthetic scene: the samples are consistent with the annotations, the
positions are right where the truth is known, and the command prints its figures."""
from __future__ import annotations

import json
import math

import pytest

from merge_ros.bench import depth as bench
from merge_ros.cli import main
from merge_ros.io.annotations import read_annotations
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.perception.depth import DepthLocator
from merge_ros.synth import generate_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> SceneFolder:
    return generate_scene(tmp_path_factory.mktemp("b") / "s", "sorting", persons=1, robot=True, seed=9,
                          duration_s=1.0)


def test_samples_match_the_annotations_and_positions_are_right(scene: SceneFolder) -> None:
    frames = list(read_annotations(scene.annotations_path))
    samples = bench.scene_samples(scene, DepthLocator())
    entity_samples = [s for s in samples if s.part in ("object", "torso", "robot")]
    assert len(entity_samples) == sum(len(f.entities) for f in frames)       # every visible entity, once
    assert sum(s.part == "robot" for s in samples) == sum(s.part == "gripper" for s in samples) > 0
    for s in samples:
        assert s.error_m is None if s.estimate is None else s.error_m == math.dist(s.truth, s.estimate)
    figures = bench.accuracy(samples)
    parts = figures["parts"]
    assert figures["count"] == len(entity_samples)
    assert figures["coverage"] >= 0.95
    assert parts["object"]["position_error_median_m"] < 0.03 and parts["object"]["position_error_p95_m"] < 0.08
    assert parts["torso"]["position_error_median_m"] < 0.05
    assert parts["robot"]["position_error_median_m"] < 0.03
    for s in (summary for group in (parts, figures["near"]) for summary in group.values() if summary["count"]):
        assert s["position_error_median_m"] <= s["position_error_p95_m"] and 0.0 <= s["coverage"] <= 1.0
    # the locator is what makes them right: a position far off the truth is counted as such
    far = [bench.Sample("object", (0.0, 0.0, 1.0), (0.0, 0.0, 1.5)), bench.Sample("object", (0.0, 0.0, 1.0), None)]
    assert bench.summarize(far) == {"position_error_median_m": 0.5, "position_error_p95_m": 0.5, "coverage": 0.5,
                                    "count": 2}


def test_cost_runs_on_a_busy_frame(scene: SceneFolder) -> None:
    cost = bench.cost(scene, DepthLocator(), actors=10, objects=40, frames=5)
    assert cost["load_entities"] == 50 and cost["extra_ms"] > 0 and cost["extra_cpu_ms"] > 0


def test_the_command_prints_its_figures(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "depth", "--seeds", "3", "--duration", "0.4", "--load-frames", "3", "--workdir",
                 str(tmp_path), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("position_error_median_m", "position_error_p95_m", "coverage", "extra_ms"):
        assert key in figures
    assert set(figures["parts"]) == set(bench.PARTS) and set(figures["near"]) == {"object", "torso"}
    assert figures["scenes"] == ["sorting_1p_s3", "pouring_2p_robot_s3", "handover_3p_robot_s3"]
    assert figures["seeds"] == [3] and figures["tuning_seeds"] == list(bench.TUNING_SEEDS)
