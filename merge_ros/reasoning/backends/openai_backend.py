"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp server, ...).

Images go as base64 JPEG data URLs in image_url content parts, each after a text part with its caption. The
answer format is constrained where the server allows it (json_mode "schema": a JSON schema whose enums are the
request's IDs and the vocabulary; "object": any JSON object); a server that rejects response_format with HTTP 400
is asked again without it, and not asked with it any more. Timeouts, refused connections, HTTP 429 and 5xx are
retried with backoff; other HTTP errors are not.
"""
from __future__ import annotations

import base64
import logging
import os

import httpx

from merge_ros.io.images import bgr8_to_compressed
from merge_ros.reasoning.backends.base import BackendFailure, BackendLoadError, TextBackend, TransientError
from merge_ros.reasoning.parameters import BackendConfig
from merge_ros.reasoning.prompt import answer_schema
from merge_ros.reasoning.status import ERROR_TIMEOUT
from merge_ros.types import ReasonRequest

log = logging.getLogger(__name__)


class OpenAIBackend(TextBackend):
    name = "openai"

    def __init__(self, config: BackendConfig, jpeg_quality: int = 90) -> None:
        super().__init__(config.retries, config.backoff_s)
        if not config.base_url:
            raise BackendLoadError("openai backend: parameter 'base_url' is empty (e.g. http://127.0.0.1:8000/v1)")
        key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.base_url = config.base_url.rstrip("/")
        self.model = config.model
        self.json_mode = config.json_mode
        self.max_new_tokens = config.max_new_tokens
        self.jpeg_quality = int(jpeg_quality)
        self._client = httpx.Client(base_url=self.base_url + "/", headers=headers, timeout=config.timeout_s)

    def close(self) -> None:
        self._client.close()

    def generate(self, request: ReasonRequest) -> str:
        body = {
            "model": self.model or self._served_model(),
            "messages": [{"role": "user", "content": self._content(request)}],
            "max_tokens": self.max_new_tokens,
            "temperature": 0,
        }
        if self.json_mode == "schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "events", "schema": answer_schema(request.actor_ids, request.object_ids)}}
        elif self.json_mode == "object":
            body["response_format"] = {"type": "json_object"}
        reply = self._request("POST", "chat/completions", body)
        if reply.status_code == 400 and "response_format" in body:
            log.warning("%s rejects response_format %s (%s); asking without it from now on", self.base_url,
                        self.json_mode, reply.text[:200])
            self.json_mode = "off"
            del body["response_format"]
            reply = self._request("POST", "chat/completions", body)
        return _message_text(self._json(reply))

    def _content(self, request: ReasonRequest) -> list[dict]:
        parts: list[dict] = []
        for i, image in enumerate(request.images):
            caption = request.captions[i] if i < len(request.captions) else f"image {i}"
            data = base64.b64encode(bgr8_to_compressed(image, "jpeg", self.jpeg_quality)).decode("ascii")
            parts += [{"type": "text", "text": f"{caption}:"},
                      {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}}]
        parts.append({"type": "text", "text": request.prompt})
        return parts

    def _served_model(self) -> str:
        """The first model the server lists, for servers that serve one model under a name nobody configured."""
        models = self._json(self._request("GET", "models")).get("data") or []
        if not models or not isinstance(models[0], dict) or not models[0].get("id"):
            raise BackendFailure(f"{self.base_url}/models lists no model; set parameter 'model'")
        self.model = str(models[0]["id"])
        log.info("using model %s served at %s", self.model, self.base_url)
        return self.model

    def _request(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        try:
            reply = self._client.request(method, path, json=body)
        except httpx.TimeoutException as e:
            raise TransientError(f"{method} {self.base_url}/{path} timed out ({e})", ERROR_TIMEOUT) from e
        except httpx.TransportError as e:
            raise TransientError(f"{method} {self.base_url}/{path}: {type(e).__name__}: {e}") from e
        if reply.status_code == 429 or reply.status_code >= 500:
            raise TransientError(f"{method} {self.base_url}/{path}: HTTP {reply.status_code}: {reply.text[:200]}")
        return reply

    def _json(self, reply: httpx.Response) -> dict:
        if reply.status_code != 200:
            raise BackendFailure(f"{reply.request.method} {reply.request.url}: HTTP {reply.status_code}: "
                                 f"{reply.text[:200]}")
        try:
            data = reply.json()
        except ValueError as e:
            raise BackendFailure(f"{reply.request.url} answered no JSON: {reply.text[:200]!r}") from e
        if not isinstance(data, dict):
            raise BackendFailure(f"{reply.request.url} answered {type(data).__name__}, not an object")
        return data


def _message_text(data: dict) -> str:
    """The assistant's text in a chat-completions reply (string content, or text parts)."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as e:
        raise BackendFailure(f"not a chat-completions reply: {str(data)[:200]}") from e
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""
