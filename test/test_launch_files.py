"""The launch files name only nodes that exist and parameters that the nodes declare.

Checked by reading their syntax tree, so that this holds on machines without `launch`/`launch_ros` too (they are
not on PyPI; where they are built, test_launch_graph.py and test_launch_testing.py run the launch files): every
Node(package="merge_ros", executable=X) must be an executable that CMakeLists.txt installs, the managed nodes
are launched as lifecycle nodes with the autostart argument, and every parameter override given to a node must
be declared by that node (config/merge.yaml is checked the same way in test_config.py).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def _installed_executables() -> set[str]:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    block = re.search(r"install\(PROGRAMS(.*?)DESTINATION", cmake, re.S).group(1)
    return {Path(p).name for p in block.split()}


def _node_calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") in ("Node", "node")]


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles_and_defines_generate_launch_description(path):
    tree = ast.parse(path.read_text(), str(path))
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)


def test_every_launched_executable_is_installed():
    installed = _installed_executables()
    for script in installed:
        assert (ROOT / "scripts" / script).is_file(), script
    tree = ast.parse((ROOT / "launch" / "merge.launch.py").read_text())
    named = set()
    for call in _node_calls(tree):
        args = [a.value for a in call.args if isinstance(a, ast.Constant)]
        kw = {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}
        if call.func.id == "node":
            named.add(args[0])
        elif kw.get("package") == "merge_ros":
            named.add(kw["executable"])
    assert named == {"perception_node", "event_node", "vlm_node", "grounding_node"}
    assert named <= installed


def test_the_managed_nodes_are_lifecycle_nodes_with_autostart():
    from merge_ros.ros.lifecycle import ManagedNode
    from merge_ros.ros.perception_node import PerceptionNode
    from merge_ros.ros.vlm_node import VlmNode

    tree = ast.parse((ROOT / "launch" / "merge.launch.py").read_text())
    managed = {}
    for call in _node_calls(tree):
        if call.func.id == "node" and any(k.arg == "lifecycle" and k.value.value for k in call.keywords):
            managed[call.args[0].value] = {k.value for k in call.args[1].keys}
    assert set(managed) == {"perception_node", "vlm_node"}
    assert all("autostart" in overrides for overrides in managed.values())
    assert issubclass(PerceptionNode, ManagedNode) and issubclass(VlmNode, ManagedNode)
