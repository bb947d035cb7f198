"""The package's layering: everything that touches ROS lives in merge_ros/ros/, the rest is plain Python."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "merge_ros"
ADAPTERS = PACKAGE / "ros"
# Top-level modules that only a ROS installation provides (the generated messages of this package included).
ROS_MODULES = ("rclpy", "rosidl_runtime_py", "rcl_interfaces", "builtin_interfaces", "launch", "launch_ros",
               "ament_index_python")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement anywhere in the file names (inside functions too)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


def _is_ros(module: str) -> bool:
    top = module.split(".")[0]
    return (top in ROS_MODULES or top.endswith("_msgs") or module.startswith(("merge_ros.msg", "merge_ros.srv")))


def test_only_the_ros_folder_imports_ros():
    offending = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
                 for path in sorted(PACKAGE.rglob("*.py")) if ADAPTERS not in path.parents
                 for line, module in _imports(path) if _is_ros(module)]
    assert offending == []


def test_the_check_sees_a_lazy_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from rclpy.node import Node\n    import sensor_msgs.msg\n")
    assert [m for _, m in _imports(sample) if _is_ros(m)] == ["rclpy.node.Node", "sensor_msgs.msg"]


def test_the_core_loads_without_ros():
    """Importing every core module pulls in no ROS module: the offline path and the tools run without it."""
    modules = sorted("merge_ros." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
                     for p in PACKAGE.rglob("*.py") if ADAPTERS not in p.parents and p.name != "__init__.py")
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {ROS_MODULES!r} or "
            "m.split('.')[0].endswith('_msgs') or m.startswith(('merge_ros.msg', 'merge_ros.srv'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
