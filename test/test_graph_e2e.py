"""The graph contract: synthetic recordings replayed over DDS into the four nodes give exactly the events the
offline path gives for the same scenes (same tuples, same stamps, same order), and they ground the scene."""
from __future__ import annotations

import argparse

import pytest

from merge_ros.commands.demo import graph_overrides
from merge_ros.evaluation.protocol import load_ground_truth, predictions_from_events, score_scene, summarize
from merge_ros.io.ground_import import import_scene
from merge_ros.offline import merged_sections, run_scene
from merge_ros.ros.graph import replay_into_graph
from merge_ros.synth import generate_scene

# 1, 2 and 3 persons (one with a robot arm), the default realism (box jitter, 3 % missed detections, occlusions,
# reaches that do not grasp, objects carried past others, a person leaving and returning).
SCENES = [dict(scenario="sorting", persons=1, robot=False, seed=21, duration_s=20.0),
          dict(scenario="sorting", persons=2, robot=True, seed=11, duration_s=20.0),
          dict(scenario="handover", persons=3, robot=False, seed=22, duration_s=20.0)]
# Perception-only F1 over 51 held-out synthetic scenes is 0.87 (merge-ros bench events); single scenes vary
# around that by about +-0.15, so a scene scoring below 0.6 means the graph lost or garbled events.
MIN_F1 = 0.6


def _key(e):
    return (e.event_id, e.stamp_ns, e.actor_id, e.action, e.object_id, e.relation, e.target_id, e.robot_interaction)


def _overrides(scene, journal):
    args = argparse.Namespace(detector="annotations", model="", device="cpu", vlm_backend="none", vlm_model="",
                              vlm_base_url="")
    return graph_overrides(args, scene.root, journal)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SCENES, ids=lambda s: f"{s['scenario']}_{s['persons']}p")
def test_graph_over_dds_grounds_exactly_what_the_offline_path_grounds(spec, tmp_path):
    scene = generate_scene(tmp_path / "scene", **spec)
    bag = tmp_path / "bag"
    import_scene(scene.root, bag)
    # Replayed at 3x: perception queues frames (lossless replay), so entity frames, stage steps and confirmed
    # events cross DDS in bursts, the condition under which a second input topic could overtake the first.
    live = replay_into_graph(bag, _overrides(scene, tmp_path / "live.jsonl"), rate=3.0)
    offline = run_scene(scene, merged_sections(None, _overrides(scene, tmp_path / "offline.jsonl")))
    assert offline, "the scene must give events"
    assert list(map(_key, live)) == list(map(_key, offline))
    score = summarize([score_scene(load_ground_truth(scene.ground_truth_path), predictions_from_events(live), 5.0)])
    assert score["f1"] >= MIN_F1, score
    # the journal holds exactly what was published
    assert (tmp_path / "live.jsonl").read_text().count("\n") == len(live)
