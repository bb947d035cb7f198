"""Declaring a parameter table (merge_ros.params) on a node: descriptions and ranges become descriptors."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from merge_ros.params import Param, Table, resolve


def descriptor(param: Param) -> ParameterDescriptor:
    """The description as written (so a node describes a parameter exactly as its table does); choices go to
    additional_constraints, a range to the typed range field ROS tools check and show."""
    d = ParameterDescriptor(description=param.description)
    if param.choices:
        d.additional_constraints = "one of: " + ", ".join(param.choices)
    if param.low is None or param.high is None or isinstance(param.default, bool):
        return d
    if isinstance(param.default, int):
        d.integer_range = [IntegerRange(from_value=int(param.low), to_value=int(param.high), step=1)]
    elif isinstance(param.default, float):
        d.floating_point_range = [FloatingPointRange(from_value=float(param.low), to_value=float(param.high),
                                                     step=0.0)]
    return d


def declare(node: Node, name: str, param: Param) -> Any:
    """Declare one parameter; its value (the override, else the default)."""
    if isinstance(param.default, (list, tuple)) and not param.default:
        # An empty list cannot tell rclpy its element type (nor can `[]` in a parameter file): declare the type,
        # then set the default if nothing was given.
        value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, descriptor(param)).value
        if value is None:
            value = []
            node.set_parameters([Parameter(name, Parameter.Type.STRING_ARRAY, value)])
        return list(value)
    default = list(param.default) if isinstance(param.default, tuple) else param.default
    return node.declare_parameter(name, default, descriptor(param)).value


def declare_all(node: Node, table: Table) -> dict[str, Any]:
    """Declare every parameter of table on node; return their values, checked against the table
    (merge_ros.params.ParameterError, a ValueError naming the parameter)."""
    return resolve(table, {name: declare(node, name, param) for name, param in table.items()}, node.get_name())
