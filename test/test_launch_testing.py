"""The launch_testing test of merge.launch.py (test/launch/merge_lifecycle_launchtest.py), run by `launch_test` in
a subprocess of its own.

Why a subprocess: pytest.ini disables the launch_testing and launch_pytest pytest plugins (launch_testing's hook
does not load under pytest 9, launch_pytest's fixtures break on pytest 9's fixture objects, and importing `launch`
installs a logger class with propagate=False that breaks caplog for the rest of the suite). `launch_test` is
the runner ROS packages use for such files anyway (CMake's add_launch_test): unittest-based, it needs neither
plugin, and its own process keeps `launch` out of this one. Its JUnit report says which tests ran.
"""
from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from ros_processes import ROOT, fresh_domain, ros_env, ros_tools_missing, stale_install

from merge_ros.config import config_path
from merge_ros.io.annotations import AnnotatedFrame, write_annotations

LAUNCH_TEST = ROOT / "test" / "launch" / "merge_lifecycle_launchtest.py"


def _params_file(tmp_path: Path) -> Path:
    """config/merge.yaml with perception on an annotations file and the annotations' IDs: no model to load."""
    annotations = tmp_path / "annotations.jsonl"
    write_annotations(annotations, [AnnotatedFrame(1.0, "", [])])
    config = yaml.safe_load(config_path().read_text())
    perception = config["/**/perception_node"]["ros__parameters"]
    perception.update({"annotations_file": str(annotations), "identity.use_hint_ids": True})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_merge_launch_lifecycle_launch_test_passes(tmp_path):
    if missing := ros_tools_missing():
        pytest.skip(missing)
    assert not (stale := stale_install()), stale
    report = tmp_path / "launch_test.xml"
    result = subprocess.run(["launch_test", str(LAUNCH_TEST), f"params_file:={_params_file(tmp_path)}",
                             "--junit-xml", str(report)], env=ros_env(tmp_path, fresh_domain()), capture_output=True,
                            text=True, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    suites = ET.parse(report).getroot()
    cases = [case.get("name") for case in suites.iter("testcase")]
    assert len(cases) == 3, cases
    assert not any(case.find("failure") is not None or case.find("error") is not None
                   for case in suites.iter("testcase")), output
    assert "process has finished cleanly" in output and "Traceback" not in output
