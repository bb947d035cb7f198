"""`merge-ros bench perception` runs the node path and bare predict on the same frames and prints its figures."""
from __future__ import annotations

import json

import pytest

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


def test_bench_compares_formats_exported_from_the_same_weights(capsys):
    """--format: each format's node path and bare predict on the same frames, fps_<format> and speedup_best
    consistent with the per-format figures printed beside them."""
    assert main(["bench", "perception", "--frames", "2", "--warmup", "0", "--imgsz", "64", "--source", "generated",
                 "--format", "torch,onnx,openvino", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    formats = ["torch", "onnx", "openvino"]
    assert figures["formats"] == formats and set(figures["by_format"]) == set(formats)
    for fmt in formats:
        f = figures["by_format"][fmt]
        assert f["fps_node"] > 0 and f["fps_model"] > 0 and figures[f"fps_{fmt}"] == f["fps_node"]
        assert abs(f["ratio"] - f["fps_node"] / f["fps_model"]) < 0.01
        assert any(line.strip().startswith(fmt) and "perception_node path" in line for line in lines[:-1])
    best = figures["best_format"]
    assert best in ("onnx", "openvino")
    assert figures["fps_node"] == figures["fps_torch"]  # the top-level figures are the first format's
    assert abs(figures["speedup_best"] - figures[f"fps_{best}"] / figures["fps_torch"]) < 0.01
    assert figures[f"fps_{best}"] == max(figures["fps_onnx"], figures["fps_openvino"])


def test_a_format_nobody_knows_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "perception", "--format", "torch,tflite"])
    assert exc.value.code == 2 and "formats are torch, onnx, openvino" in capsys.readouterr().err
