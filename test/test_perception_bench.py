"""`merge-ros bench perception` runs the node path and bare predict on the same frames and prints its figures."""
from __future__ import annotations

import json

from merge_ros.cli import main


def test_bench_prints_the_figures_as_json_on_the_last_line(capsys):
    assert main(["bench", "perception", "--frames", "4", "--warmup", "1", "--imgsz", "96", "--conf", "0",
                 "--max-det", "5", "--source", "synth", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["frames"] == 4 and figures["source"] == "synth" and figures["frame_size"] == [640, 480]
    assert figures["fps_node"] > 0 and figures["fps_model"] > 0
    assert abs(figures["ratio"] - figures["fps_node"] / figures["fps_model"]) < 0.01
    assert figures["detections_per_frame"] == 5.0  # conf 0: every frame fills max_det, so identity has work
    assert figures["identity_ms"] > 0
    assert any("perception_node path" in line for line in lines[:-1])
