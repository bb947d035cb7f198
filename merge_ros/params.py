"""Node parameters, declared once: a config dataclass field made with `param()` is the parameter.

Its default, description and range (or choices) live in the field alone, and from there become the ROS
parameter declaration (merge_ros.ros.parameters), the check of every value (`Param.check`: the node, the offline
path and direct construction of the dataclass all go through it) and the default of the dataclass itself.
A node's table is the union of its config classes' fields (`table`), optionally under a prefix such as
"identity."; the offline path resolves the same table against the same section of config/merge.yaml
(`resolve`), so both paths build their cores from identical, identically checked values (`config_of`).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["LifecycleConfig", "Param", "ParameterError", "Table", "check_fields", "config_of", "flatten", "param",
           "resolve", "table"]

_METADATA_KEY = "merge_ros.param"
C = TypeVar("C")


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
    declared_in: str = ""  # module.Class.field of the one declaration (set by table())

    def check(self, name: str, value: Any) -> Any:
        """value as this parameter's type, in range and one of the choices; otherwise ParameterError naming it.

        A parameter file or an offline caller may write 1 for 1.0 (it becomes a float) and a list for a tuple;
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


def param(default: Any, description: str, low: float | None = None, high: float | None = None,
          choices: tuple[str, ...] = ()) -> Any:
    """A config dataclass field that is a node parameter. List-valued parameters take a tuple default (a
    dataclass field may not share a mutable one); they are declared as ROS arrays all the same."""
    if isinstance(default, list):
        raise TypeError("give a list-valued parameter a tuple default")
    spec = Param(default, " ".join(description.split()), low, high, tuple(choices))
    return dataclasses.field(default=default, metadata={_METADATA_KEY: spec})


def _params(cls: type) -> list[tuple[str, Param]]:
    return [(f.name, f.metadata[_METADATA_KEY]) for f in dataclasses.fields(cls) if _METADATA_KEY in f.metadata]


def table(*classes: type, prefix: str = "") -> dict[str, Param]:
    """The parameters of the config classes' `param()` fields, named prefix + field name."""
    out: dict[str, Param] = {}
    for cls in classes:
        for name, spec in _params(cls):
            if prefix + name in out:
                raise ValueError(f"parameter {prefix + name} is declared twice")
            out[prefix + name] = dataclasses.replace(spec, declared_in=f"{cls.__module__}.{cls.__qualname__}.{name}")
    return out


def check_fields(config: Any) -> None:
    """Check (and normalise: 1 -> 1.0, list -> tuple) every `param()` field of a config instance in place;
    call it from __post_init__. ParameterError names the field."""
    for name, spec in _params(type(config)):
        object.__setattr__(config, name, spec.check(name, getattr(config, name)))


def config_of(cls: type[C], values: Mapping[str, Any], prefix: str = "") -> C:
    """An instance of cls from a node's resolved values (those named prefix + field; the rest ignored)."""
    return cls(**{name: values[prefix + name] for name, _ in _params(cls) if prefix + name in values})


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


@dataclass
class LifecycleConfig:
    """How a managed (lifecycle) node starts: perception_node and vlm_node, which hold models."""

    autostart: bool = param(True, "configure and activate the node as it starts (false: it stays unconfigured "
                                  "for `ros2 lifecycle set` or a lifecycle manager)")

    def __post_init__(self) -> None:
        check_fields(self)


# Declared by rclpy itself for every node; a parameter file's section may hold it.
ROS_OWN_PARAMETERS = ("use_sim_time",)


def resolve(spec: Table, values: Mapping[str, Any] | None = None, node: str = "") -> dict[str, Any]:
    """Defaults overlaid with values (nested mappings flattened), each checked by its Param; an unknown name
    (a typo) raises ParameterError too, naming the node when given. rclpy's own parameters are dropped."""
    values = flatten(values or {})
    unknown = [name for name in values if name not in spec and name not in ROS_OWN_PARAMETERS]
    if unknown:
        others = f" (as are {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        where = f" of {node}" if node else ""
        close = difflib.get_close_matches(unknown[0], list(spec), n=1)  # a typo is the likely cause
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ParameterError(unknown[0], f"is no parameter{where}{others}{hint}")
    return {name: p.check(name, values.get(name, p.default)) for name, p in spec.items()}
