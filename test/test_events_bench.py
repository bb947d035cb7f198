"""`merge-ros bench events` and the perception-only path on synthetic GROUND-like scenes."""
from __future__ import annotations

import json

import pytest

from merge_ros.bench.events import SceneRun, load_stream, request_rates, run_detector, scene_frames, score_runs
from merge_ros.cli import main
from merge_ros.vocabulary import GRASP, PLACE_DOWN


def test_load_stream_keeps_the_detector_busy():
    frames = load_stream(actors=5, objects=12, frames=150, seed=3)
    assert len(frames) == 150
    assert {e.id for e in frames[0].entities} >= {"person_0", "robot_4", "object_11"}
    run = run_detector(frames, name="load")
    actions = {e.action for e in run.events}
    assert {GRASP, PLACE_DOWN} <= actions  # the actors really pick things up and put them down
    assert 0 < run.reasoning < run.triggers
    assert run.duration_s == pytest.approx(15.0)


def test_request_rates_against_the_every_chunk_baseline():
    runs = [SceneRun("a", frames=300, duration_s=30.0, triggers=40, reasoning=5),
            SceneRun("b", frames=600, duration_s=60.0, triggers=70, reasoning=10)]
    rates = request_rates(runs)
    assert rates["baseline_requests_per_min"] == pytest.approx(150.0)  # 10 fps / 4 frames per chunk * 60
    assert rates["vlm_requests_per_min"] == pytest.approx(10.0)
    assert rates["reduction"] == pytest.approx(15.0)
    assert rates["triggers_per_min"] == pytest.approx(110 / 1.5)


@pytest.fixture(scope="module")
def handover_scene(tmp_path_factory):
    from merge_ros.synth import generate_scene

    folder = tmp_path_factory.mktemp("events") / "handover"
    generate_scene(folder, scenario="handover", persons=2, robot=True, seed=100, duration_s=30.0)
    return folder


@pytest.mark.slow
def test_perception_only_f1_on_a_synthetic_scene(handover_scene):
    # Seed 100 was not used for tuning (seeds 0-2 were). Measured on this scene: full-tuple F1 0.625 (TP 5, FP 4,
    # FN 2), action and object F1 0.875; the tuple misses are placements into the bowl, which the detector reports
    # as "in" and GROUND scores only by "on". The thresholds sit one event below the measured values: a detector
    # that loses the handovers or the pick-ups drops under them.
    run = run_detector(scene_frames(handover_scene), name="handover")
    scores = score_runs([run], [handover_scene], tolerance=5.0)
    assert scores["f1"] >= 0.5, scores
    assert scores["f1_action"] >= 0.75 and scores["f1_object"] >= 0.75, scores
    assert any(e.action == "handover" and e.robot_interaction for e in run.events)


@pytest.mark.slow
def test_bench_prints_the_figures_as_json(capsys):
    code = main(["bench", "events", "--scenarios", "sorting", "--persons", "1", "--robot", "no", "--seeds", "100",
                 "--duration", "20", "--load-actors", "4", "--load-objects", "8", "--load-frames", "40", "--json"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    for key in ("detector_ms", "vlm_requests_per_min", "baseline_requests_per_min", "reduction", "f1", "f1_action",
                "f1_object", "f1_on", "f1_robot", "per_scenario"):
        assert key in figures
    assert figures["baseline_requests_per_min"] == pytest.approx(150.0)
    assert figures["reduction"] == pytest.approx(figures["baseline_requests_per_min"]
                                                 / figures["vlm_requests_per_min"])
    assert figures["detector_ms"] > 0 and 0.0 <= figures["f1"] <= 1.0
    assert set(figures["per_scenario"]) == {"sorting"}
    assert any(line.startswith("change detector") for line in out[:-1])  # the human-readable table comes first
