"""Declaring a parameter table (merge_ros.params) on a node: descriptions and ranges become descriptors."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from merge_ros.params import Param, Table, resolve


def descriptor(param: Param) -> ParameterDescriptor:
    text = param.description
    if param.choices:
        text += f" (one of: {', '.join(param.choices)})"
    d = ParameterDescriptor(description=text)
    if param.low is None or param.high is None or isinstance(param.default, bool):
        return d
    if isinstance(param.default, int):
        d.integer_range = [IntegerRange(from_value=int(param.low), to_value=int(param.high), step=1)]
    elif isinstance(param.default, float):
        d.floating_point_range = [FloatingPointRange(from_value=float(param.low), to_value=float(param.high),
                                                     step=0.0)]
    return d


def declare_all(node: Node, table: Table) -> dict[str, Any]:
    """Declare every parameter of table on node; return their values, checked against the table (ValueError)."""
    values = {}
    for name, param in table.items():
        default = list(param.default) if isinstance(param.default, tuple) else param.default
        values[name] = node.declare_parameter(name, default, descriptor(param)).value
    return resolve(table, values)
