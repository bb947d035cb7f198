"""The launched graph with the real ROS 2 tools: `ros2 launch merge_ros replay.launch.py` plays a synthetic scene
(merge-ros replay, lossless) into the four node processes, `ros2 topic echo /events` shows exactly the events of
the offline path, the README's commands run verbatim against it, and one Ctrl-C stops every process with exit
code 0 (the journal on disk holds every event). Also: a bad parameter under `ros2 launch merge_ros
merge.launch.py` ends that node with exit code 2 and one line naming it.

Skipped, with the reason, where the tools are not installed (a machine without ../shared/ros2-jazzy).
"""
from __future__ import annotations

import argparse
import re
import shlex
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ros_processes import (
    ROOT,
    Process,
    fresh_domain,
    ros2,
    ros2_until,
    ros_env,
    ros_tools_missing,
    stale_install,
    started,
    stop_daemon,
)

from merge_ros.commands.demo import graph_overrides
from merge_ros.io.ground_import import import_scene
from merge_ros.offline import merged_sections, run_scene
from merge_ros.synth import generate_scene
from merge_ros.types import Event

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(ros_tools_missing()), reason=ros_tools_missing() or "")]

README_MARK = "<!-- commands tested verbatim by test/test_launch_graph.py -->"
NODES = ("perception_node", "event_node", "vlm_node", "grounding_node")
TIMEOUT_S = 90.0


def readme_commands() -> list[str]:
    """The command lines of the README block after README_MARK, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = text.split(README_MARK, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.join(shlex.split(line, comments=True)) for line in block.splitlines()
            if shlex.split(line, comments=True)]


def key(e: Event) -> tuple:
    return (e.event_id, e.stamp_ns, e.actor_id, e.action, e.object_id, e.relation, e.target_id, e.robot_interaction)


def echoed(text: str) -> list[tuple]:
    """The events in `ros2 topic echo /events` output (YAML documents separated by ---)."""
    docs = [yaml.safe_load(d) for d in text.split("\n---") if d.strip() and "event_id" in d]
    return [(d["event_id"], d["header"]["stamp"]["sec"] * 1_000_000_000 + d["header"]["stamp"]["nanosec"],
             d["actor_id"], d["action"], d["object_id"], d["relation"], d["target_id"], d["robot_interaction"])
            for d in docs]


@dataclass
class Launched:
    launch: Process
    echo: Process
    env: dict[str, str]
    expected: list[Event]
    journal: Path


def _observer(env: dict[str, str]):
    """A node of this process on the test's domain, to wait on graph conditions (who publishes, who listens)."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=int(env["ROS_DOMAIN_ID"]))
    return context, rclpy.create_node("launch_observer", context=context)


def _until(condition, what: str, *outputs: Process | None, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "\n".join([what, *(f"{shlex.join(p.cmd)}:\n{p.output[-6000:]}"
                                                           for p in outputs if p is not None)])
        time.sleep(0.05)


def _expected_events(scene, tmp: Path) -> list[Event]:
    """What the offline path grounds for the scene, with the demo's (and graph test's) settings."""
    args = argparse.Namespace(detector="annotations", model="", device="cpu", vlm_backend="none", vlm_model="",
                              vlm_base_url="")
    return run_scene(scene, merged_sections(None, graph_overrides(args, scene.root, tmp / "offline.jsonl")))


def _echo_subscribed(observer, env: dict[str, str], launch: Process) -> Process:
    """README's `ros2 topic echo /events`, once it has subscribed. Run again if it gave up: started before its
    discovery saw the publisher, it cannot tell the topic's type and exits, as it would for a user."""
    echo = None
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if echo is None or echo.proc.poll() is not None:
            echo = Process(shlex.split(readme_commands()[1]), env)
        if any(i.node_name.startswith("_ros2cli") for i in observer.get_subscriptions_info_by_topic("/events")):
            return echo
        time.sleep(0.05)
    raise AssertionError(f"the echo never subscribed:\n{echo.output}\n{launch.output[-4000:]}")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    assert not (stale := stale_install()), stale
    tmp = tmp_path_factory.mktemp("launched")
    # with a robot arm: the bag then has all three registry topics, whose subscriptions replay.launch.py's
    # player counts by default (wait_subscribers 7) before it plays
    scene = generate_scene(tmp / "scene", scenario="sorting", persons=1, robot=True, seed=21, duration_s=8.0)
    import_scene(scene.root, tmp / "bag")
    env = ros_env(tmp, fresh_domain())
    journal = tmp / "journal.jsonl"
    context, observer = _observer(env)
    launch = Process(["ros2", "launch", "merge_ros", "replay.launch.py", f"bag:={tmp / 'bag'}", "player:=merge-ros",
                      "lossless:=true", "rate:=4.0", "detector:=annotations", f"scene_dir:={scene.root}",
                      f"journal_path:={journal}", f"events_bag:={tmp / 'events'}"], env, cwd=tmp)
    echo = None
    try:
        # as a user would: once grounding publishes /events, `ros2 topic echo /events` in another terminal
        _until(lambda: observer.count_publishers("/events") >= 1, "no /events publisher", launch)
        echo = _echo_subscribed(observer, env, launch)
        assert not journal.exists() or not journal.read_text(), "an event came before the echo listened"
        expected = _expected_events(scene, tmp)  # while perception loads its models
        assert expected, "the scene must give events"
        _until(lambda: len(echoed(echo.output)) >= len(expected), f"fewer than {len(expected)} events echoed",
               launch, echo)
        launch.wait_for(r"\[merge-ros-\d+\]: process has finished cleanly", timeout=TIMEOUT_S)  # the player, done
        yield Launched(launch, echo, env, expected, journal)
    finally:
        for process in (echo, launch):
            if process is not None:
                process.kill()
        stop_daemon(env)
        observer.destroy_node()
        context.shutdown()


def test_topic_echo_shows_exactly_the_offline_events(graph):
    assert echoed(graph.echo.output) == [key(e) for e in graph.expected]


def _run_all(commands: list[str], env: dict[str, str]) -> dict[str, str]:
    """Run the commands at once (each a `ros2` process of its own); their stdout, each checked to exit 0."""
    with ThreadPoolExecutor(len(commands)) as pool:
        results = dict(zip(commands, pool.map(lambda c: ros2(c, env, timeout=60.0), commands), strict=True))
    failed = {c: r.stdout + r.stderr for c, r in results.items() if r.returncode != 0}
    assert not failed, failed
    return {c: r.stdout for c, r in results.items()}


def test_the_readme_commands_run_verbatim(graph):
    commands = readme_commands()
    assert commands[1] == "ros2 topic echo /events"  # run by the fixture, before the bag played
    queries = [c for c in commands if c != commands[1] and " set " not in c]
    steps = [c for c in commands if " set " in c]  # the lifecycle round trip: in order
    assert len(queries) + len(steps) + 1 == len(commands)
    nodes = ros2_until(commands[0], graph.env, lambda r: set(re.findall(r"^/(\w+)$", r.stdout, re.M)) >= set(NODES))
    out = {commands[0]: nodes.stdout, **_run_all(queries[1:], graph.env)}
    person_events = [e.event_id for e in graph.expected if e.actor_id == "person_1"]
    assert re.findall(r"event_id='(evt-\d+)'", out[commands[2]]) == person_events
    assert "string actor_id" in out["ros2 interface show merge_ros/msg/Event"]
    assert out["ros2 param get /grounding_node confirm_s"].strip() == "Double value is: 0.3"
    assert out["ros2 lifecycle get /perception_node"].startswith("active [3]")
    for step in steps:
        [result] = _run_all([step], graph.env).values()
        expected = "Set parameter successful" if step.startswith("ros2 param") else "Transitioning successful"
        assert expected in result, (step, result)
    # the parameter set while unconfigured applied at configure; the node is back to active
    after = _run_all(["ros2 param get /perception_node conf", "ros2 lifecycle get /perception_node"], graph.env)
    assert list(after.values())[0].strip() == "Double value is: 0.5"
    assert list(after.values())[1].startswith("active [3]")


def test_one_ctrl_c_stops_every_node_with_exit_code_0(graph):
    graph.echo.send(signal.SIGINT)
    graph.launch.send(signal.SIGINT)  # to the group, as a terminal does: launch then signals each node again
    assert graph.launch.wait(timeout=60.0) == 0, graph.launch.output
    graph.echo.wait(timeout=30.0)  # ros2cli's own code for a Ctrl-C is 2 (SIGINT)
    assert "Traceback" not in graph.echo.output
    out = graph.launch.output
    finished = set(re.findall(r"\[(\w+)-\d+\]: process has finished cleanly", out))
    assert finished >= set(NODES), out
    assert not re.search(rf"\[({'|'.join(NODES)})-\d+\]: process has died", out) and "Traceback" not in out, out
    assert len(graph.journal.read_text().splitlines()) == len(graph.expected)  # flushed: every event on disk


def test_a_bad_parameter_ends_that_node_with_exit_code_2_and_one_line(tmp_path):
    env = ros_env(tmp_path, fresh_domain())
    with started(["ros2", "launch", "merge_ros", "merge.launch.py", "rviz:=false", "model:=/no/such/model.pt",
                  "vlm_backend:=transformers", "vlm_model:=/no/such/vlm"], env) as launch:
        for node in ("perception_node", "vlm_node"):
            launch.wait_for(rf"\[{node}-\d+\]: process has died \[pid \d+, exit code 2,", timeout=TIMEOUT_S)
        launch.wait_for(r"grounding: 0 events restored", timeout=TIMEOUT_S)
        launch.send(signal.SIGINT)
        assert launch.wait(timeout=60.0) == 0
    out = launch.output
    assert "Traceback" not in out, out
    [perception] = [line for line in out.splitlines() if "[perception_node]" in line and "FATAL" in line]
    assert "parameter 'model': model file '/no/such/model.pt' does not exist" in perception
    [vlm] = [line for line in out.splitlines() if "[vlm_node]" in line and "FATAL" in line]
    assert "parameter 'model'" in vlm and "/no/such/vlm" in vlm
    assert set(re.findall(r"\[(\w+)-\d+\]: process has finished cleanly", out)) == {"event_node", "grounding_node"}
