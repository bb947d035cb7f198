"""Parameter tables: each node's parameters with default, description and range, in one place, without rclpy.

A node declares its table through merge_ros.nodes.parameters; the offline pipeline resolves the same table
against the same section of config/merge.yaml, so both build their core from identical values, checked alike.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# The one error of an unusable parameter value; str() starts with the parameter's name, .parameter holds it.

__all__ = ["Param", "ParameterError", "Table", "flatten", "from_dataclass", "resolve", "subset"]


class ParameterError(ValueError):
    """A node parameter (or the file it names) is unusable; str() starts with the parameter's name."""

    def __init__(self, parameter: str, problem: str):
        super().__init__(f"parameter '{parameter}': {problem}")
        self.parameter = parameter


@dataclass(frozen=True)
class Param:
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, name: str, value: Any) -> Any:
        """value as this parameter's type, in range and one of the choices; otherwise ParameterError naming it.

        A parameter file or an offline caller may write 1 for 1.0 (it becomes a float) and a tuple for a list;
        anything else of the wrong type is refused, so a core never sees "640" or True where it counts on 640.
        """
        value = self._typed(name, value)
        if self.choices and value not in self.choices:
            raise ParameterError(name, f"{value!r} is not one of {', '.join(self.choices)}")
        if self.low is None or self.high is None or isinstance(value, (bool, str, list, tuple)):
            return value
        if math.isnan(value) or not self.low <= value <= self.high:
            raise ParameterError(name, f"{value} is outside [{self.low}, {self.high}]")
        return value

    def _typed(self, name: str, value: Any) -> Any:
        want = type(self.default)
        if want in (list, tuple):
            # An empty default says nothing of its elements: those are strings (STRING_ARRAY when declared).
            item = type(self.default[0]) if self.default else str
            if isinstance(value, (list, tuple)) and all(_is(v, item) for v in value):
                return want(value)
            raise ParameterError(name, f"{value!r} is not a list of {item.__name__}")
        if want is float and _is(value, int):
            return float(value)
        if _is(value, want):
            return value
        raise ParameterError(name, f"{value!r} is not of type {want.__name__}")


def _is(value: Any, want: type) -> bool:
    """isinstance, except that a bool is no int (nor float): True for a count is a mistake, not 1."""
    return isinstance(value, want) and (want is bool or not isinstance(value, bool))


Table = Mapping[str, Param]


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as a ROS parameter file may hold them ({"identity": {"use_hint_ids": true}}) to the
    dotted names the node declares ("identity.use_hint_ids")."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{name}."))
        else:
            out[prefix + name] = value
    return out


def resolve(table: Table, values: Mapping[str, Any] | None = None, ignore: tuple[str, ...] = ("use_sim_time",)
            ) -> dict[str, Any]:
    """Defaults overlaid with values (nested mappings flattened), each checked by its Param; an unknown name
    raises ParameterError too. Names in ignore (rclpy's own, a file's section may hold them) are dropped."""
    values = flatten(values or {})
    unknown = [name for name in values if name not in table and name not in ignore]
    if unknown:
        others = f" (as are {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        raise ParameterError(unknown[0], f"unknown parameter{others}; known: {', '.join(table)}")
    return {name: p.check(name, values.get(name, p.default)) for name, p in table.items()}


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
