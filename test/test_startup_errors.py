"""Bad input at start-up, through the real commands in a subprocess: `merge-ros run -p` with a value out of range,
a parameter or node name nobody declares, a model that is not here (and no network to fetch it) or does not load,
and `merge-ros demo` with a VLM that is not in the Hugging Face cache. Each is one line on stderr naming the node
and the parameter, exit code 2, no traceback, and no network wait (Ultralytics' and the hub's offline switches,
or a hub address where nothing listens)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """A one-second synthetic scene, so that the annotations detector (no model) can start."""
    from merge_ros.synth import generate_scene

    return generate_scene(tmp_path_factory.mktemp("startup") / "scene", persons=1, robot=False, seed=0,
                          duration_s=1.0, fps=5.0).root


def merge_ros(args: list[str], tmp_path: Path, **env: str) -> tuple[int, list[str], float]:
    """Run `merge-ros ARGS` offline; its exit code, its stderr's lines, and the seconds it took."""
    environment = {**os.environ, "YOLO_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
                   "HF_HUB_DISABLE_UPDATE_CHECK": "1", **env}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "merge_ros.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=300, cwd=tmp_path)
    return proc.returncode, proc.stderr.strip().splitlines(), time.monotonic() - started


def assert_one_line(code: int, lines: list[str], prefix: str, *fragments: str) -> str:
    """Exit 2 and exactly one line of ours, naming what it must; nothing of a traceback."""
    ours = [line for line in lines if line.startswith(prefix)]
    assert code == 2 and len(ours) == 1, lines
    assert not any("Traceback" in line for line in lines), lines
    for fragment in fragments:
        assert fragment in ours[0], ours[0]
    return ours[0]


@pytest.mark.parametrize(("params", "fragments"), [
    (["perception_node.imgsz=99999"], ["perception_node: parameter 'imgsz': 99999 is outside [32, 4096]"]),
    (["perception_node.imgzs=640"], ["perception_node: parameter 'imgzs': is no parameter", "did you mean 'imgsz'"]),
    (["percepton_node.imgsz=640"], ["percepton_node: no such node", "did you mean perception_node"]),
    (["vlm_node.timeout_s=fast"], ["vlm_node: parameter 'timeout_s': 'fast' is not of type float"]),
    ([], ["perception_node: parameter 'model': model 'yolo11n.pt' is not a local file", "no network"]),
    (["perception_node.detector=annotations", "perception_node.scene_dir={scene}", "vlm_node.backend=transformers",
      "vlm_node.model=Qwen/Qwen2.5-VL-3B-Instruct"],
     ["vlm_node: transformers backend: model 'Qwen/Qwen2.5-VL-3B-Instruct'", "nor in the Hugging Face cache",
      "hf download Qwen/Qwen2.5-VL-3B-Instruct"]),
], ids=["out of range", "unknown parameter", "unknown node", "wrong type", "detector weights not here",
        "VLM not cached"])
def test_run_refuses_bad_input_before_any_node_starts(tmp_path, scene, params, fragments):
    args = ["run"] + [arg for p in params for arg in ("-p", p.format(scene=scene))]
    code, lines, _ = merge_ros(args, tmp_path)
    assert_one_line(code, lines, "merge-ros run: ", *fragments)
    assert not any("running" in line for line in lines)  # refused before the graph came up


def test_run_names_the_node_whose_model_does_not_load(tmp_path):
    """A model file that is there but is no model: found by the check, refused by the loading node."""
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    code, lines, _ = merge_ros(["run", "-p", f"perception_node.model={broken}", "-p", "perception_node.pose_model="],
                               tmp_path)
    assert_one_line(code, lines, "merge-ros run: ", "perception_node: parameter 'model': cannot load model",
                    str(broken))


def test_demo_says_within_seconds_that_its_vlm_is_not_cached(tmp_path):
    """Online mode with nothing at the hub's address: one probe, refused, and the advice, before any scene is made
    (the hub client's own retries took minutes)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: connections are refused
    out = tmp_path / "demo"
    code, lines, elapsed = merge_ros(["demo", "-o", str(out), "--vlm-backend", "transformers", "--vlm-model",
                                      "Qwen/Qwen2.5-VL-3B-Instruct"], tmp_path, HF_HUB_OFFLINE="0",
                                     HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert_one_line(code, lines, "merge-ros demo: ", "vlm_node:", "nor in the Hugging Face cache",
                    f"http://127.0.0.1:{port}: ConnectError", "hf download Qwen/Qwen2.5-VL-3B-Instruct")
    assert not out.exists()  # nothing generated, imported or run first
    print(f"\nmerge-ros demo: the message after {elapsed:.1f} s")
