"""`merge-ros evaluate` on the stored GROUND runs reproduces the published protocol's reference scores."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from merge_ros import cli

GROUND = Path(os.environ.get("MERGE_GROUND_DIR", Path(__file__).resolve().parents[2] / "shared" / "ground"))
SCENES = GROUND / "scenes"
REFERENCE = GROUND / "reference_scores.json"

pytestmark = pytest.mark.skipif(not REFERENCE.is_file(), reason=f"no GROUND reference material at {GROUND}")

TOLERANCES = {"tolerance_5s": 5, "tolerance_1s": 1}


def evaluate_json(capsys, *args: str) -> dict:
    assert cli.main(["evaluate", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def reference_cases() -> list[tuple[str, str]]:
    if not REFERENCE.is_file():
        return []
    ref = json.loads(REFERENCE.read_text())
    return [(tol, method) for tol in TOLERANCES for method in ref[tol]]


def rounded(row: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


@pytest.mark.parametrize(("tolerance", "method"), reference_cases())
def test_every_method_matches_the_reference_scores(capsys, tolerance, method):
    expected = json.loads(REFERENCE.read_text())[tolerance][method]
    got = evaluate_json(capsys, "--scenes", str(SCENES), "--method", method, "--tolerance", str(TOLERANCES[tolerance]))
    keys = ["f1", "f1_action", "f1_object", "f1_on", "f1_robot", "TP", "FP", "FN", "seconds_per_image"]
    assert {k: rounded(got["overall"])[k] for k in keys} == {k: expected[k] for k in keys}
    assert [{"scenes": g["scenes"], "f1": round(g["f1"], 4)} for g in got["groups"]] == expected["groups"]


def test_merge_gpt4o_prints_f1_044_at_5s(capsys):
    assert cli.main(["evaluate", "--scenes", str(SCENES), "--method", "trigger-label-full-gpt-4o-0"]) == 0
    overall = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("overall"))
    assert overall.split()[1].startswith("0.44")


def test_the_same_code_scores_a_sixteen_scene_set(tmp_path, capsys):
    """Scenes 009-016 (here: copies of 001-008 under new numbers) join the table's other groups."""
    method = "trigger-label-full-gpt-4o-0"
    for scene in sorted(SCENES.iterdir()):
        (tmp_path / scene.name).symlink_to(scene)
        number = int(scene.name.split("_")[1])
        (tmp_path / scene.name.replace(f"{number:03d}", f"{number + 8:03d}")).symlink_to(scene)
    eight = evaluate_json(capsys, "--scenes", str(SCENES), "--method", method)
    sixteen = evaluate_json(capsys, "--scenes", str(tmp_path), "--method", method)
    assert [g["scenes"] for g in sixteen["groups"]][4:] == [
        ["scene_009_sf1P", "scene_010_sf2P"], ["scene_011_sf2P", "scene_012_sf2P"],
        ["scene_013_sf1P1R", "scene_014_sf1P1R"], ["scene_015_sf2P1R", "scene_016_sf2P1R"]]
    assert len(sixteen["groups"]) == 8 and len(sixteen["scenes"]) == 16
    assert [k for k in ("TP", "FP", "FN") if sixteen["overall"][k] != 2 * eight["overall"][k]] == []
    assert sixteen["overall"]["f1"] == pytest.approx(eight["overall"]["f1"])
    assert sixteen["overall"]["seconds_per_image"] == pytest.approx(eight["overall"]["seconds_per_image"])
