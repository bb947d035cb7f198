"""VLM backends behind one interface (VlmBackend.reason), made by name from the vlm_node parameters.

transformers and openai import their heavy dependencies only when made, so `none` needs neither torch nor httpx.
"""
from __future__ import annotations

from merge_ros.reasoning.backends.base import (
    BackendFailure,
    BackendLoadError,
    TextBackend,
    TransientError,
    VlmBackend,
)
from merge_ros.reasoning.backends.none_backend import NoneBackend
from merge_ros.reasoning.parameters import BACKENDS, BackendConfig

__all__ = ["BackendFailure", "BackendLoadError", "NoneBackend", "TextBackend", "TransientError", "VlmBackend",
           "make_backend"]


def make_backend(config: BackendConfig) -> VlmBackend:
    """The backend config.backend names, loaded and ready; BackendLoadError (one clear message) if it cannot be."""
    if config.backend == "none":
        return NoneBackend()
    if config.backend == "transformers":
        from merge_ros.reasoning.backends.transformers_backend import TransformersBackend

        return TransformersBackend(config)
    if config.backend == "openai":
        from merge_ros.reasoning.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(config)
    raise BackendLoadError(f"unknown VLM backend {config.backend!r} (choose one of {', '.join(BACKENDS)})")
