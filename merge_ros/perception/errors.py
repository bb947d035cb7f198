"""The one error type for a perception setting that cannot work, so every message names the parameter to fix."""
from __future__ import annotations


class ParameterError(ValueError):
    """A perception_node parameter (or the file it names) is unusable; str() starts with the parameter's name."""

    def __init__(self, parameter: str, problem: str):
        super().__init__(f"parameter '{parameter}': {problem}")
        self.parameter = parameter
