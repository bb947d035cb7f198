"""vlm_node's parameter table (the one BackendConfig every backend takes), and the backend built from it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from merge_ros.params import LifecycleConfig, Param, check_fields, config_of, param, table

BACKENDS: tuple[str, ...] = ("transformers", "openai", "none")
DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")
JSON_MODES: tuple[str, ...] = ("schema", "object", "off")


@dataclass
class BackendConfig:
    """Everything a VLM backend is made from; a backend reads the fields that concern it."""

    backend: str = param("none", "VLM backend (none: perception's candidates, no model)", choices=BACKENDS)
    model: str = param("", "transformers: model id or local path (AutoModelForImageTextToText, e.g. "
                           "Qwen/Qwen2.5-VL-3B-Instruct); openai: served model name ('' = the first the server lists)")
    device: str = param("cpu", "transformers: torch device (cpu, cuda, cuda:0, ...)")
    dtype: str = param("auto", "transformers: weight dtype", choices=DTYPES)
    max_new_tokens: int = param(256, "most tokens the model may generate per answer", 1, 32768)
    base_url: str = param("http://127.0.0.1:8000/v1", "openai: base URL of the chat-completions server (vLLM, "
                                                      "Ollama at http://127.0.0.1:11434/v1, llama.cpp server, ...)")
    api_key_env: str = param("OPENAI_API_KEY", "openai: environment variable holding the API key ('' or unset: "
                                               "none)")
    json_mode: str = param("schema", "openai: answer format constraint (schema: JSON schema with the request's IDs; "
                                     "falls back to off if the server refuses it)", choices=JSON_MODES)
    timeout_s: float = param(60.0, "seconds one attempt may take (HTTP timeout; the request's deadline is "
                                   "(retries + 1) attempts plus backoff)", 0.1, 3600.0)
    retries: int = param(1, "retries after a timeout or a transient server error (not after a malformed answer: "
                            "decoding is greedy)", 0, 10)
    backoff_s: float = param(0.5, "pause before the first retry; doubles with each further retry", 0.0, 60.0)

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def deadline_s(self) -> float:
        """How long one request may take in all: every attempt plus the backoff between them."""
        return self.timeout_s * (self.retries + 1) + self.backoff_s * (2 ** self.retries - 1)


VLM_PARAMETERS: dict[str, Param] = table(BackendConfig, LifecycleConfig)


def build_backend(values: Mapping[str, Any]):
    """The backend vlm_node's resolved values name, loaded; BackendLoadError if it cannot be."""
    from merge_ros.reasoning.backends import make_backend

    return make_backend(config_of(BackendConfig, values))
