"""Test doubles and offline stand-ins for the reasoning path (tests only).

- FakeVlmBackend: a text backend that answers from a script (texts, exceptions, delays), for dispatcher and node
  tests that need a model to be slow, crash or answer nonsense on cue.
- ScriptedChatServer: a real HTTP server on 127.0.0.1 that speaks the chat-completions protocol with scripted
  replies, for what a real server (transformers serve, test_openai_server.py) cannot be made to answer: a
  well-formed answer, HTTP errors, a refusal of response_format, replies in the wrong protocol.
- build_tiny_vlm: a real Qwen2-VL architecture with tiny dimensions and random weights, a byte-level BPE
  tokenizer trained in-process and a Qwen2-VL image processor, saved like a hub model so that the transformers
  backend loads it by path (no download). Its text is random: assert on the path, never on the content.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from merge_ros.reasoning.backends.base import TextBackend
from merge_ros.types import ReasonRequest

Answer = str | BaseException | Callable[[ReasonRequest], str]


class FakeVlmBackend(TextBackend):
    """Answers the i-th request with script[i] (the last one repeats): a text, an exception to raise, or a function.

    delay_s makes every answer slow; a delay longer than the caller's timeout is a hung model.
    """

    name = "fake"

    def __init__(self, script: Sequence[Answer], delay_s: float = 0.0, retries: int = 0, backoff_s: float = 0.0):
        super().__init__(retries, backoff_s)
        if not script:
            raise ValueError("FakeVlmBackend needs at least one scripted answer")
        self.script = list(script)
        self.delay_s = delay_s
        self.requests: list[ReasonRequest] = []

    def generate(self, request: ReasonRequest) -> str:
        answer = self.script[min(len(self.requests), len(self.script) - 1)]
        self.requests.append(request)
        if self.delay_s:
            time.sleep(self.delay_s)
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer


@dataclass
class Reply:
    """One scripted server reply: assistant text with HTTP 200, or another status with a body."""

    text: str = ""
    status: int = 200
    body: str | None = None  # sent as is instead of a chat-completions reply


@dataclass
class ScriptedChatServer:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 answering from replies in order.

    The last reply repeats. reject_response_format answers HTTP 400 to any request with response_format, as
    servers without structured output do. Every request body is kept in `requests`, its headers in `headers`.
    """

    replies: list[Reply]
    model: str = "tiny-test-model"
    reject_response_format: bool = False
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    reply = server.replies[min(len(server.requests), len(server.replies)) - 1]
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, '{"error": "not found"}')
                    return
                if server.reject_response_format and "response_format" in body:
                    self._send(400, '{"error": {"message": "response_format is not supported"}}')
                    return
                if reply.body is not None or reply.status != 200:
                    self._send(reply.status, reply.body if reply.body is not None else '{"error": "scripted"}')
                    return
                self._send(200, json.dumps({
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "model": server.model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.text}}],
                }))

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client went away
                    pass

        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="chat-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# A chat template in the Qwen2-VL format: captions as text, each image as its vision placeholder.
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                   "<|image_pad|>", "<|video_pad|>"]
_CORPUS = [
    '{"events": [{"actor": "person_1", "action": "grasp", "object": "object_3", "robot_interaction": false}]}',
    "place_down hold pour handover idle on in robot_1 person_2 object_5 frame t-0 t-1 t-2 t-3 tentative",
]


def build_tiny_vlm(path: Path | str) -> Path:
    """Save a tiny random-weight Qwen2-VL (model, tokenizer, image processor, chat template) to path."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        Qwen2TokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(_CORPUS * 4, trainers.BpeTrainer(
        vocab_size=400, special_tokens=_SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in _SPECIAL_TOKENS}
    special = {"bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
               "pad_token_id": ids["<|endoftext|>"]}
    config = Qwen2VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                     "max_position_embeddings": 4096, "rope_scaling": {"type": "mrope", "mrope_section": [4, 6, 6]},
                     **special},
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"], **special)
    Qwen2VLForConditionalGeneration(config).save_pretrained(path)
    Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(), video_processor=Qwen2VLVideoProcessor(),
                     tokenizer=tokenizer, chat_template=_CHAT_TEMPLATE).save_pretrained(path)
    return path
