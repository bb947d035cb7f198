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

BACKENDS: tuple[str, ...] = ("transformers", "openai", "none")

__all__ = ["BACKENDS", "BackendFailure", "BackendLoadError", "NoneBackend", "TextBackend", "TransientError",
           "VlmBackend", "make_backend"]


def make_backend(name: str, *, model: str = "", device: str = "cpu", dtype: str = "auto", max_new_tokens: int = 256,
                 base_url: str = "", api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 60.0, retries: int = 1,
                 backoff_s: float = 0.5, json_mode: str = "schema") -> VlmBackend:
    """The backend called name, loaded and ready; BackendLoadError (one clear message) if it cannot be."""
    if name == "none":
        return NoneBackend()
    if name == "transformers":
        from merge_ros.reasoning.backends.transformers_backend import TransformersBackend

        return TransformersBackend(model, device, dtype, max_new_tokens, retries, backoff_s)
    if name == "openai":
        from merge_ros.reasoning.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(base_url, model, api_key_env, timeout_s, max_new_tokens, json_mode, retries, backoff_s)
    raise BackendLoadError(f"unknown VLM backend {name!r} (choose one of {', '.join(BACKENDS)})")
