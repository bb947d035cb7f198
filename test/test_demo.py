"""`merge-ros demo --scenes ROOT`: every scene of a GROUND-eval-like folder through the graph, then the paper's
table (groups by scene number) and a report."""
from __future__ import annotations

import json

from merge_ros.cli import main
from merge_ros.synth import generate_scene


def test_demo_over_a_folder_of_scenes_prints_the_paper_table(tmp_path, capsys):
    root = tmp_path / "ground"
    generate_scene(root / "scene_001_sf1P", scenario="sorting", persons=1, seed=21, duration_s=8.0)
    generate_scene(root / "scene_002_sf2P", scenario="sorting", persons=2, seed=22, duration_s=8.0)
    out = tmp_path / "out"
    assert main(["demo", "--scenes", str(root), "--offline", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "001 " in printed and "002 " in printed and "overall" in printed  # one group per scene number here
    for name in ("scene_001_sf1P", "scene_002_sf2P"):
        run = out / "scenes" / name / "runs" / "merge-ros"
        timing = json.loads((run / "processing_time.json").read_text())
        assert timing["images"] == 80 and timing["processing_time"] > 0
        events = (out / "scenes" / name / "events.jsonl").read_text().splitlines()
        assert len(list(run.glob("*_id_*.json"))) == len(events) > 0
    assert (out / "report" / "index.html").is_file()
    assert len(list((out / "report").glob("*.png"))) == 2


def test_demo_rejects_a_folder_without_scenes(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["demo", "--scenes", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    assert "no scene folder" in capsys.readouterr().err
