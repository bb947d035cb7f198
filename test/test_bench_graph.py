"""`merge-ros bench graph` prints its figures, with the JSON object on the last line."""
from __future__ import annotations

import json
import os

import pytest

from merge_ros.cli import main


@pytest.mark.slow
def test_bench_graph_prints_its_figures_as_json(capsys):
    assert main(["bench", "graph", "--latency-duration", "12", "--stream-hours", "0.004", "--candidates", "400",
                 "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["latency_events"] >= 1
    assert 0 < figures["latency_p50_s"] <= figures["latency_p95_s"] < 12
    assert figures["events_per_s"] > 0
    assert figures["stream_frames"] >= 120 and figures["stream_events"] >= 1  # the 12 s scene looped
    assert figures["rss_after_warmup_mb"] > 0 and "rss_growth_mb" in figures


def test_the_benchmark_graphs_get_a_domain_of_their_own_and_the_callers_comes_back(monkeypatch):
    from merge_ros.ros.domain import private_domain

    monkeypatch.setenv("ROS_DOMAIN_ID", "7")
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE", raising=False)
    seen = set()
    for _ in range(50):
        with private_domain() as domain:
            seen.add(domain)
            assert os.environ["ROS_DOMAIN_ID"] == str(domain) != "7"
            assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
        assert os.environ["ROS_DOMAIN_ID"] == "7" and "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ
    assert len(seen) > 10 and all(1 <= d <= 101 for d in seen)
