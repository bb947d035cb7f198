"""merge_ros.ros.launched: frame -> confirmed event latency over the launched graph (separate processes), the
figure `merge-ros bench graph` reports beside its one-process one; the launch stops cleanly afterwards."""
from __future__ import annotations

import pytest
from ros_processes import fresh_domain, ros_tools_missing, stale_install

from merge_ros.io.ground_import import import_scene
from merge_ros.synth import generate_scene

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(ros_tools_missing()), reason=ros_tools_missing() or "")]


def test_launched_graph_latency_is_measured_and_the_launch_stops_cleanly(tmp_path, monkeypatch):
    from merge_ros.ros.launched import measure_launched_latency

    assert not (stale := stale_install()), stale
    monkeypatch.setenv("ROS_DOMAIN_ID", str(fresh_domain()))  # this process's probe and the launch share it
    monkeypatch.setenv("ROS_HOME", str(tmp_path / "ros_home"))
    scene = generate_scene(tmp_path / "scene", scenario="sorting", persons=1, robot=False, seed=21, duration_s=8.0)
    import_scene(scene.root, tmp_path / "bag")
    result = measure_launched_latency(scene, tmp_path / "bag", tmp_path)
    assert result.launch_exit_code == 0, (tmp_path / "launch.log").read_text()
    assert result.events >= 1 and len(result.latencies) == result.events
    # no VLM: each event waits grounding's 0.3 s confirmation window (confirm_s) of stream time, replayed at 1x
    assert all(0.25 <= s < 3.0 for s in result.latencies), result.latencies
    assert "process has died" not in (tmp_path / "launch.log").read_text()
