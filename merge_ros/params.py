"""Parameter tables: each node's parameters with default, description and range, in one place, without rclpy.

A node declares its table through merge_ros.nodes.parameters; the offline pipeline resolves the same table
against the same section of config/merge.yaml, so both build their core from identical values.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, name: str, value: Any) -> None:
        """ValueError naming the parameter when value is outside the range or not one of the choices."""
        if self.choices and value not in self.choices:
            raise ValueError(f"parameter {name}: {value!r} is not one of {', '.join(self.choices)}")
        if self.low is None or self.high is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if math.isnan(value) or not self.low <= value <= self.high:
            raise ValueError(f"parameter {name}: {value} is outside [{self.low}, {self.high}]")


Table = Mapping[str, Param]


def resolve(table: Table, values: Mapping[str, Any] | None = None, ignore: tuple[str, ...] = ("use_sim_time",)
            ) -> dict[str, Any]:
    """Defaults overlaid with values; an unknown name or a value out of range raises ValueError."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(table) - set(ignore))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} (known: {', '.join(table)})")
    out = {name: values.get(name, p.default) for name, p in table.items()}
    for name, p in table.items():
        p.check(name, out[name])
    return out


def from_dataclass(cls: type, describe: Callable[[dataclasses.Field], Param | None]) -> dict[str, Param]:
    """One Param per field of a config dataclass (describe returns None for fields that are no parameter)."""
    table = {}
    for f in dataclasses.fields(cls):
        param = describe(f)
        if param is not None:
            table[f.name] = param
    return table


def subset(values: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """The values that are fields of the dataclass cls (to build it from a node's resolved parameters)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if k in names}
