"""config/merge.yaml and the launch file against the real nodes: every parameter either names is declared by its
node (with a description), and every node section names a node the launch file starts."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from merge_ros.config import NODE_NAMES, config_path, load_config
from merge_ros.io.annotations import AnnotatedFrame, write_annotations
from merge_ros.ros.graph import Graph, NodeStartError

ROOT = Path(__file__).resolve().parents[1]
# Parameters rclpy declares on every node by itself.
ROS_OWN = {"use_sim_time", "start_type_description_service"}


def _launch_overrides() -> dict[str, set[str]]:
    """node -> parameter names that merge.launch.py sets on it (the dict literal of each node(...) call)."""
    tree = ast.parse((ROOT / "launch" / "merge.launch.py").read_text())
    out = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "node":
            name = call.args[0].value
            out[name] = {k.value for k in call.args[1].keys}
    return out


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    annotations = tmp_path_factory.mktemp("cfg") / "annotations.jsonl"
    write_annotations(annotations, [AnnotatedFrame(1.0, "", [])])
    g = Graph(overrides={"perception_node": {"detector": "annotations", "annotations_file": str(annotations)}})
    yield g
    g.shutdown()


def test_the_config_file_has_a_section_per_node():
    assert set(load_config()) == set(NODE_NAMES)
    assert config_path() == ROOT / "config" / "merge.yaml"


@pytest.mark.parametrize("node_name", NODE_NAMES)
def test_every_configured_parameter_is_declared_with_a_description(graph, node_name):
    node = graph.nodes[node_name]
    configured = set(load_config()[node_name])
    declared = {name for name in node._parameters if name not in ROS_OWN}
    assert configured == declared, (sorted(configured - declared), sorted(declared - configured))
    for name in declared:
        assert node.describe_parameter(name).description, f"{node_name}.{name} has no description"


def test_launch_file_overrides_are_declared_parameters(graph):
    for node_name, names in _launch_overrides().items():
        missing = {n for n in names if not graph.nodes[node_name].has_parameter(n)}
        assert not missing, f"merge.launch.py sets undeclared {node_name} parameters {missing}"


def test_config_file_values_reach_the_nodes(graph):
    for node_name, values in load_config().items():
        node = graph.nodes[node_name]
        for name, value in values.items():
            if node_name == "perception_node" and name in ("detector", "annotations_file"):
                continue  # overridden by the fixture
            assert node.get_parameter(name).value == value, f"{node_name}.{name}"


def test_sections_apply_under_a_namespace(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "config" / "merge.yaml").read_text().replace("recent_events: 8", "recent_events: 5"))
    g = Graph(params, namespace="robot_1", nodes=("grounding_node",))
    try:
        node = g.nodes["grounding_node"]
        assert node.get_fully_qualified_name() == "/robot_1/grounding_node"
        assert node.get_parameter("recent_events").value == 5
    finally:
        g.shutdown()


def test_a_bad_parameter_stops_the_graph_with_an_error_naming_the_node_and_it():
    with pytest.raises(NodeStartError, match="confirm_s") as err:
        Graph(overrides={"grounding_node": {"confirm_s": -1.0}}, nodes=("event_node", "grounding_node"))
    assert err.value.node == "grounding_node" and str(err.value).startswith("grounding_node: ")
