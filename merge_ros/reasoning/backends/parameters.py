"""vlm_node's parameters, and the backend they name (for the node and the offline pipeline alike)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from merge_ros.params import Param
from merge_ros.reasoning.backends import BACKENDS, VlmBackend, make_backend
from merge_ros.reasoning.backends.openai_backend import JSON_MODES
from merge_ros.reasoning.backends.transformers_backend import DTYPES

VLM_PARAMETERS: dict[str, Param] = {
    "backend": Param("none", f"VLM backend: {', '.join(BACKENDS)} (none: perception's candidates, no model)"),
    "model": Param("", "transformers: model id or local path (AutoModelForImageTextToText, e.g. "
                       "Qwen/Qwen2.5-VL-3B-Instruct); openai: served model name ('' = the first the server lists)"),
    "device": Param("cpu", "transformers: torch device (cpu, cuda, cuda:0, ...)"),
    "dtype": Param("auto", f"transformers: weight dtype, one of {', '.join(DTYPES)}"),
    "max_new_tokens": Param(256, "most tokens the model may generate per answer", 1, 32768),
    "base_url": Param("http://127.0.0.1:8000/v1", "openai: base URL of the chat-completions server (vLLM, Ollama "
                                                  "at http://127.0.0.1:11434/v1, llama.cpp server, ...)"),
    "api_key_env": Param("OPENAI_API_KEY", "openai: environment variable holding the API key ('' or unset: none)"),
    "json_mode": Param("schema", f"openai: answer format constraint, one of {', '.join(JSON_MODES)} (schema: JSON "
                                 "schema with the request's IDs; falls back to none if the server refuses it)"),
    "timeout_s": Param(60.0, "seconds one attempt may take (HTTP timeout; the request's deadline is "
                             "(retries + 1) attempts plus backoff)", 0.1, 3600.0),
    "retries": Param(1, "retries after a timeout or a transient server error (not after a malformed answer: "
                        "decoding is greedy)", 0, 10),
    "backoff_s": Param(0.5, "pause before the first retry; doubles with each further retry", 0.0, 60.0),
}


def backend_from_params(values: Mapping[str, Any]) -> VlmBackend:
    """The backend of vlm_node's resolved parameters, loaded; BackendLoadError if it cannot be."""
    return make_backend(
        values["backend"], model=values["model"], device=values["device"], dtype=values["dtype"],
        max_new_tokens=values["max_new_tokens"], base_url=values["base_url"], api_key_env=values["api_key_env"],
        timeout_s=values["timeout_s"], retries=values["retries"], backoff_s=values["backoff_s"],
        json_mode=values["json_mode"])


def deadline_s(values: Mapping[str, Any]) -> float:
    """How long one request may take in all: every attempt plus the backoff between them."""
    return values["timeout_s"] * (values["retries"] + 1) + values["backoff_s"] * (2 ** values["retries"] - 1)
