"""A node's parameters declared from one table: default, description and range side by side.

Each node keeps its table next to its code; this module turns an entry into a ParameterDescriptor (with an
IntegerRange or FloatingPointRange where the entry has bounds) and declares them all in one call.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


@dataclass(frozen=True)
class Param:
    default: Any
    description: str
    low: float | None = None
    high: float | None = None

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(description=self.description)
        if self.low is None or self.high is None or isinstance(self.default, bool):
            return d
        if isinstance(self.default, int):
            d.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
        elif isinstance(self.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(self.low), to_value=float(self.high),
                                                         step=0.0)]
        return d


def declare_all(node: Node, table: Mapping[str, Param]) -> dict[str, Any]:
    """Declare every parameter of table on node; return their values (tuples come back as lists)."""
    values = {}
    for name, param in table.items():
        default = list(param.default) if isinstance(param.default, tuple) else param.default
        values[name] = node.declare_parameter(name, default, param.descriptor()).value
    return values
