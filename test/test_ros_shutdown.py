"""Ctrl-C and SIGTERM end every node process, and `merge-ros run`, with exit code 0 and no traceback.

A Ctrl-C under `ros2 launch` reaches a node twice: from the terminal (the whole process group) and from launch
(to each node), a few ms to a few hundred ms apart. The nodes run as their own processes (as
`python -m merge_ros.ros.<node>`, what the installed executables run), each in its own process group with SIGINT
at its default, and the signals go to the groups as a terminal sends them.
"""
from __future__ import annotations

import signal
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from ros_processes import Process, fresh_domain, ros_env

from merge_ros.io.annotations import AnnotatedFrame, write_annotations

SIGNALS = {
    "sigint": (signal.SIGINT,),
    "two_sigints": (signal.SIGINT, signal.SIGINT),  # a terminal's Ctrl-C, then launch's own, 5 ms later
    "sigterm": (signal.SIGTERM,),
    "sigint_burst": (),  # SIGINT every 20 ms until it exits: later ones land in every phase of the shutdown
}
# what each node logs once it is up (event_node logs nothing: its status topic, latched, is its last act)
READY = {
    "perception_node": r"\[perception_node\]: detector annotations",
    "vlm_node": r"\[vlm_node\]: vlm: backend none ready",
    "grounding_node": r"\[grounding_node\]: grounding: 0 events restored",
    "event_node": None,
}


@pytest.fixture
def node_args(tmp_path) -> dict[str, list[str]]:
    annotations = tmp_path / "annotations.jsonl"
    write_annotations(annotations, [AnnotatedFrame(1.0, "", [])])
    return {
        # hint IDs: no appearance model to load, so the case stays short (the launch tests load it)
        "perception_node": ["-p", "detector:=annotations", "-p", f"annotations_file:={annotations}",
                            "-p", "identity.use_hint_ids:=true"],
        "event_node": [],
        "vlm_node": [],
        "grounding_node": ["-p", f"journal_path:={tmp_path / 'journal.jsonl'}"],
    }


def _wait_until_up(processes: dict[tuple[str, str], Process], env: dict[str, str]) -> None:
    for (_mode, name), process in processes.items():
        if READY[name]:
            process.wait_for(READY[name], timeout=90.0)
    _wait_for_nodes(env, sum(name == "event_node" for _mode, name in processes))


def _wait_for_nodes(env: dict[str, str], event_nodes: int, timeout: float = 90.0) -> None:
    """Until that many event_node processes are in the ROS graph of the test's domain (seen from a node here)."""
    import rclpy
    from rclpy.context import Context
    from reasoning_support import wait_until

    context = Context()
    rclpy.init(context=context, domain_id=int(env["ROS_DOMAIN_ID"]))
    try:
        observer = rclpy.create_node("shutdown_observer", context=context)
        assert wait_until(lambda: observer.get_node_names().count("event_node") >= event_nodes, timeout), \
            "not every event_node joined the graph"
        observer.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def _stop(process: Process, signals: tuple[signal.Signals, ...]) -> int:
    if signals:
        process.send(*signals)
        return process.wait(timeout=30.0)
    return process.hammer(signal.SIGINT, 0.02, timeout=30.0)


@pytest.mark.slow
def test_every_node_exits_0_without_a_traceback(tmp_path, node_args):
    """Every node under every way of stopping it, all 16 processes at once (one domain: same-named nodes are
    allowed, and each process is stopped by its own group's signals)."""
    env = ros_env(tmp_path, fresh_domain())
    processes: dict[tuple[str, str], Process] = {}
    try:
        for mode in SIGNALS:
            for name, args in node_args.items():
                processes[mode, name] = Process([sys.executable, "-m", f"merge_ros.ros.{name}", "--ros-args", *args],
                                                env)
        _wait_until_up(processes, env)
        with ThreadPoolExecutor(len(processes)) as pool:
            codes = dict(zip(processes, pool.map(lambda item: _stop(item[1], SIGNALS[item[0][0]]),
                                                 processes.items()), strict=True))
    finally:
        for process in processes.values():
            process.kill()
    failed = {key: (code, processes[key].output[-2000:]) for key, code in codes.items() if code != 0}
    assert not failed, failed
    for key, process in processes.items():
        assert "Traceback" not in process.output and "KeyboardInterrupt" not in process.output, (key, process.output)


@pytest.mark.slow
def test_merge_ros_run_exits_0_without_a_traceback_on_sigint_and_sigterm(tmp_path, node_args):
    perception = node_args["perception_node"]
    overrides = [f"perception_node.{perception[i + 1].replace(':=', '=')}" for i in range(0, len(perception), 2)]
    cmd = ["merge-ros", "run", *[arg for o in overrides for arg in ("-p", o)]]
    runs = {sig: Process(cmd, ros_env(tmp_path / sig.name, fresh_domain())) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in runs.values():
            process.wait_for("running; Ctrl-C to stop", timeout=60.0)
        for sig, process in runs.items():
            process.send(sig)
        codes = {sig.name: process.wait(timeout=30.0) for sig, process in runs.items()}
    finally:
        for process in runs.values():
            process.kill()
    assert codes == {"SIGINT": 0, "SIGTERM": 0}, {sig.name: p.output for sig, p in runs.items()}
    for process in runs.values():
        assert "Traceback" not in process.output, process.output
