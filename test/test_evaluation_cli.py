"""`merge-ros evaluate`: its forms, outputs and errors, and the report it writes (HTML page and timeline PNGs)."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from merge_ros import cli
from merge_ros.evaluation.report import write_report
from merge_ros.evaluation.runs import evaluate_scenes
from merge_ros.evaluation.timeline import figure_size_px
from merge_ros.io.event_log import write_events
from merge_ros.types import Event, seconds_to_ns

T0 = 1742756700.0
METHOD = "my-method"


def gt_event(action: str, obj: str, on: str = "") -> list[dict]:
    return [{"object": obj, "action": action, "robot_interaction": False, "on": on}]


def write_scene(root: Path, name: str, timing: tuple[float, int] | None = (30.0, 100)) -> Path:
    """Person p: 3 scored events (+1 idle); the run hits the grasp, misses the place_down, and adds one FP."""
    scene = root / name
    run = scene / "runs" / METHOD
    run.mkdir(parents=True)
    gt = {"p": {str(T0 + 1): gt_event("idle", ""), str(T0 + 2): gt_event("grasp", "o1"),
                str(T0 + 4): gt_event("place_down", "o1", "o2"), str(T0 + 20): gt_event("grasp", "o3")},
          "q": {str(T0 + 3): gt_event("grasp", "o4")}}
    (scene / "ground_truth.json").write_text(json.dumps(gt))
    preds = {f"{T0 + 2.5}_id_p.json": [{"object": "o1", "action": "hold", "robot_interaction": False}],
             f"{T0 + 4.5}_id_p.json": [{"object": "o1", "action": "place_down", "robot_interaction": False,
                                        "on": "o9"}],
             f"{T0 + 21}_id_p.json": [{"object": "o3", "action": "grasp", "robot_interaction": False}],
             f"{T0 + 3}_id_q.json": [{"object": "o4", "action": "pick_up", "robot_interaction": False}]}
    for file, content in preds.items():
        (run / file).write_text(json.dumps(content))
    if timing:
        (run / "processing_time.json").write_text(json.dumps({"processing_time": timing[0], "images": timing[1]}))
    return scene


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["evaluate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_lists_groups_and_overall(tmp_path, capsys):
    write_scene(tmp_path, "scene_001_sf1P")
    write_scene(tmp_path, "scene_003_sf2P", timing=(90.0, 100))
    write_scene(tmp_path, "scene_005_sf1P1R", timing=None)
    (tmp_path / "scene_006_other" / "runs" / "other-method").mkdir(parents=True)  # not this method's: left out
    (tmp_path / "scene_006_other" / "ground_truth.json").write_text("{}")
    code, out, _ = run_cli(capsys, "--scenes", str(tmp_path), "--method", METHOD)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{METHOD}: 3 scene(s), tolerance 5 s")
    assert lines[1].split() == ["scenes", "F1", "F1", "action", "F1", "object", "F1", "on", "F1", "robot", "TP",
                                "FP", "FN", "s/image"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:] if not line.startswith("-")}
    # per scene: TP 3 (grasp p, grasp p late, pick_up q), FP 1, FN 1 (the place_down's `on`); F1 = 6/8
    assert rows["001"] == ["0.7500", "1.0000", "1.0000", "0.7500", "1.0000", "3", "1", "1", "0.300"]
    assert rows["003"][-1] == "0.900" and rows["005"][-1] == "-"
    assert rows["overall"][5:] == ["9", "3", "3", "0.600"]  # (30 + 90) s / 200 images


def test_json_output_and_single_scene_forms(tmp_path, capsys):
    scene = write_scene(tmp_path, "scene_002_sf2P")
    code, out, _ = run_cli(capsys, "--scenes", str(tmp_path), "--method", METHOD, "--format", "json",
                           "--tolerance", "0.6")
    data = json.loads(out)
    assert code == 0 and data["method"] == METHOD and data["tolerance"] == 0.6
    # within 0.6 s the late grasp (1 s off) misses too: 2 of 4 tuples, 3 of 4 actions/objects/robot flags
    assert data["overall"] == {"f1": pytest.approx(4 / 8), "f1_action": pytest.approx(6 / 8),
                               "f1_object": pytest.approx(6 / 8), "f1_on": pytest.approx(4 / 8),
                               "f1_robot": pytest.approx(6 / 8), "TP": 2, "FP": 2, "FN": 2,
                               "seconds_per_image": pytest.approx(0.3)}
    assert data["groups"] == [{"scenes": ["scene_002_sf2P"], **data["overall"]}]
    assert data["scenes"] == [{"scene": "scene_002_sf2P", **data["overall"]}]
    # single-scene form on the folder, then on an event log and a rosbag2 bag of the same predictions
    code, out, _ = run_cli(capsys, "--gt", str(scene / "ground_truth.json"), "--pred", str(scene / "runs" / METHOD),
                           "--format", "json", "--tolerance", "0.6")
    assert json.loads(out)["overall"] == data["overall"]
    events = [Event(seconds_to_ns(T0 + 2.5), "p", "hold", "o1"),
              Event(seconds_to_ns(T0 + 4.5), "p", "place_down", "o1", "on", "o9"),
              Event(seconds_to_ns(T0 + 21), "p", "grasp", "o3"), Event(seconds_to_ns(T0 + 3), "q", "pick_up", "o4")]
    write_events(tmp_path / "events.jsonl", events)
    code, out, _ = run_cli(capsys, "--gt", str(scene / "ground_truth.json"), "--pred", str(tmp_path / "events.jsonl"),
                           "--format", "json", "--tolerance", "0.6")
    got = json.loads(out)
    assert code == 0 and got["overall"] == {**data["overall"], "seconds_per_image": None}
    assert got["method"] == "events.jsonl" and got["scenes"][0]["scene"] == "scene_002_sf2P"


def test_errors_are_reported_not_raised(tmp_path, capsys):
    write_scene(tmp_path, "scene_001_sf1P")
    code, _, err = run_cli(capsys, "--scenes", str(tmp_path), "--method", "nope")
    assert code == 1 and "methods present: my-method" in err
    code, _, err = run_cli(capsys, "--gt", str(tmp_path / "missing.json"), "--pred", str(tmp_path))
    assert code == 1 and "missing.json" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"stamp_ns": 1, "actor_id": "p", "action": "hold"}\nnot json\n{}\n')
    code, _, err = run_cli(capsys, "--gt", str(tmp_path / "scene_001_sf1P" / "ground_truth.json"), "--pred", str(bad))
    assert code == 1 and "bad.jsonl:2:" in err
    for args in (["--scenes", str(tmp_path)], ["--gt", "x.json"], ["--scenes", "a", "--gt", "b"],
                 ["--scenes", "a", "--method", "m", "--tolerance", "-1"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(["evaluate", *args])
        assert exc.value.code == 2


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_page_and_timeline_plots(tmp_path):
    write_scene(tmp_path / "scenes", "scene_001_sf1P")
    scene = write_scene(tmp_path / "scenes", "scene_007_sf2P1R")
    (scene / "runs" / METHOD / f"{T0 + 5}_id_robot_1.json").write_text("[]")  # an actor not in the ground truth
    result = evaluate_scenes(tmp_path / "scenes", METHOD, 5.0)
    index = write_report(tmp_path / "report", result)
    assert index == tmp_path / "report" / "index.html"
    page = index.read_text()
    for name, actors in (("scene_001_sf1P", 2), ("scene_007_sf2P1R", 3)):
        png = tmp_path / "report" / f"{name}.png"
        assert png_size(png) == figure_size_px(actors)
        assert f'<img src="{name}.png" width="{figure_size_px(actors)[0]}"' in page
    assert figure_size_px(3)[1] > figure_size_px(2)[1]
    assert "<td>overall</td><td>0.7059</td>" in page  # 6 TP, 3 FP, 2 FN
    assert "<td>007</td>" in page and "<td>scene_007_sf2P1R</td>" in page and "robot_1" in page


def test_report_from_the_command_line(tmp_path):
    """The installed entry point, in a fresh process (headless matplotlib)."""
    write_scene(tmp_path, "scene_004_sf2P")
    out = subprocess.run([sys.executable, "-m", "merge_ros.cli", "evaluate", "--scenes", str(tmp_path), "--method",
                          METHOD, "--report", str(tmp_path / "r")], capture_output=True, text=True, check=True)
    assert "overall" in out.stdout and "report written" in out.stderr
    assert png_size(tmp_path / "r" / "scene_004_sf2P.png") == figure_size_px(2)
