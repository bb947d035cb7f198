"""The openai backend and vlm_node against a real OpenAI-compatible server: `transformers serve` (transformers'
serving extra) serving the tiny random-weight Qwen2-VL of vlm_doubles.build_tiny_vlm on 127.0.0.1.

The model's text is random, so nothing here asserts on content: each answer must be a well-formed ReasonResult,
parsed or a malformed-answer failure carrying the server's text. What is asserted is the protocol, seen from the
client (httpx event hooks on the backend's own client): which requests went out with what, what came back (the
token counts show the images reached the model), how many attempts a fault cost and how long. A hung server is
the real one stopped with SIGSTOP (a model stuck or a machine overloaded: the connection is accepted, no answer
comes); a dead one is the real one killed, in the last test. Faults this server cannot be made to show (HTTP
errors, a refusal of response_format: it accepts the field and ignores it) stay with the scripted stub in
test_reasoning_backends.py.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from rclpy.parameter import Parameter
from reasoning_support import spinning, tiny_vlm_path, wait_until
from test_vlm_node import Client, counts, request_msg

from merge_ros.reasoning.backends import make_backend
from merge_ros.reasoning.parameters import BackendConfig
from merge_ros.reasoning.status import ERROR_BACKEND, ERROR_MALFORMED, ERROR_TIMEOUT, error_kind
from merge_ros.ros.vlm_node import VlmNode
from merge_ros.types import ReasonRequest, ReasonResult, Trigger

TRIGGER = Trigger(1_700_000_000_000_000_000, "camera", "person_1", "object_moving", "grasp", "object_3")
START_TIMEOUT_S = 180.0


def serving_missing() -> str:
    """Why `transformers serve` cannot run here ('' if it can)."""
    from transformers.utils.import_utils import is_serve_available

    return "" if is_serve_available() else ("`transformers serve` needs transformers' serving extra (fastapi, uvicorn, "
                                            "openai: pip install 'transformers[serving]', pinned in "
                                            "tools/requirements.txt)")


pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(serving_missing()), reason=serving_missing())]


@dataclass
class Served:
    """A running `transformers serve` process and how to reach, pause and kill it."""

    proc: subprocess.Popen
    base_url: str
    model: str
    start_s: float
    log: Path

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, nobody answers them."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = tiny_vlm_path(tmp_path_factory)
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1"}
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", str(model),
                                 "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--dtype", "float32"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        while proc.poll() is None and time.monotonic() - started < START_TIMEOUT_S:
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"transformers serve did not come up within {START_TIMEOUT_S:.0f} s:\n"
                        f"{log.read_text()[-3000:]}")
        served = Served(proc, f"{base}/v1", str(model), time.monotonic() - started, log)
        print(f"\ntransformers serve up after {served.start_s:.1f} s")
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class Wire:
    """What one backend's HTTP client sent ((method, path, body), and each request's Authorization header) and
    got ((status, body or None))."""

    sent: list[tuple[str, str, dict | None]] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    got: list[tuple[int, dict | None]] = field(default_factory=list)

    def posts(self) -> list[dict]:
        return [body for method, _, body in self.sent if method == "POST"]


def tapped(backend) -> Wire:
    """Record the backend's traffic with httpx event hooks on its own client (what went out, what came back)."""
    wire = Wire()

    def request(req: httpx.Request) -> None:
        wire.sent.append((req.method, req.url.path, json.loads(req.content) if req.content else None))
        wire.authorization.append(req.headers.get("authorization"))

    def response(reply: httpx.Response) -> None:
        reply.read()
        wire.got.append((reply.status_code, reply.json() if reply.status_code == 200 else None))

    backend._client.event_hooks = {"request": [request], "response": [response]}
    return wire


def openai_backend(server: Served, **params):
    config = {"model": "", "timeout_s": 60.0, "retries": 0, "backoff_s": 0.01, "max_new_tokens": 12,
              "api_key_env": "", **params}
    return make_backend(BackendConfig(backend="openai", base_url=server.base_url, **config))


def request(n_images: int) -> ReasonRequest:
    rng = np.random.default_rng(n_images)
    images = [rng.integers(0, 255, (56, 84, 3), dtype=np.uint8) for _ in range(n_images)]
    captions = [f"frame t-{n_images - 1 - i}" for i in range(n_images)]
    return ReasonRequest(TRIGGER, "Answer with JSON only.", images, captions, ["person_1"], ["object_3"])


def reason_while_hung(server, backend) -> tuple[ReasonResult, float]:
    """backend.reason on a one-image request while the server accepts connections but does not answer (until the
    backend's own sleep resumes it, where a test makes it so); the result and the seconds it took."""
    server.pause()
    try:
        started = time.monotonic()
        result = backend.reason(request(1))
        return result, time.monotonic() - started
    finally:
        server.resume()


def assert_well_formed(result, content: str) -> None:
    """A parsed answer or a malformed-answer failure, carrying the server's text either way."""
    assert result.raw_text == content
    assert result.success or (error_kind(result) == ERROR_MALFORMED and result.events == [])


def test_the_served_model_answers_what_the_backend_asks(server):
    backend = openai_backend(server)
    wire = tapped(backend)
    answers = []
    for n_images in (3, 1, 0):
        started = time.monotonic()
        answers.append((backend.reason(request(n_images)), time.monotonic() - started))
    # no model configured: the backend asked the server which one it serves, once, then used its name
    assert [(m, p) for m, p, _ in wire.sent] == [("GET", "/v1/models")] + [("POST", "/v1/chat/completions")] * 3
    assert all(status == 200 for status, _ in wire.got)
    posts, replies = wire.posts(), [body for _, body in wire.got[1:]]
    assert all(body["model"] == server.model and body["max_tokens"] == 12 and body["temperature"] == 0
               for body in posts)
    assert wire.authorization == [None] * 4  # api_key_env '': no key, no header
    parts = posts[0]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url"] * 3 + ["text"]
    assert all(p["image_url"]["url"].startswith("data:image/jpeg;base64,") for p in parts if p["type"] == "image_url")
    for (result, elapsed), reply in zip(answers, replies, strict=True):
        assert_well_formed(result, reply["choices"][0]["message"]["content"])
        assert reply["usage"]["completion_tokens"] <= 12 and elapsed < 60.0
    # every image reached the model: each adds its vision tokens to the prompt
    prompt_tokens = [reply["usage"]["prompt_tokens"] for reply in replies]
    assert prompt_tokens[0] > prompt_tokens[1] > prompt_tokens[2]
    print(f"\nanswers in {', '.join(f'{e:.2f}' for _, e in answers)} s (3, 1, 0 images)")


def test_response_format_is_accepted_and_not_enforced(server):
    """transformers serve takes the JSON schema without complaint (HTTP 200) and ignores it: the backend keeps
    sending it (no fallback, which only an HTTP 400 causes) and parses whatever the model says."""
    backend = openai_backend(server, model=server.model, json_mode="schema")
    wire = tapped(backend)
    results = [backend.reason(request(1)) for _ in range(2)]
    assert [status for status, _ in wire.got] == [200, 200] and backend.json_mode == "schema"
    schemas = [body["response_format"]["json_schema"]["schema"] for body in wire.posts()]
    assert len(schemas) == 2 and schemas[0]["properties"]["events"]["items"]["properties"]["actor"]["enum"] == [
        "person_1"]
    for result, (_, reply) in zip(results, wire.got, strict=True):
        assert_well_formed(result, reply["choices"][0]["message"]["content"])


def test_a_hung_server_times_out_and_the_retry_after_it_wakes_is_answered(server):
    """The first attempt meets a stopped server and times out; the server wakes during the backoff (the backend's
    pause before retrying is where it is woken), and the second attempt is answered."""
    backend = openai_backend(server, model=server.model, timeout_s=5.0, retries=1, max_new_tokens=4)
    wire = tapped(backend)

    def backoff(seconds: float) -> None:
        server.resume()
        time.sleep(seconds)

    backend._sleep = backoff
    result, elapsed = reason_while_hung(server, backend)
    assert len(wire.posts()) == 2 and len(wire.got) == 1  # two attempts, one answer
    assert_well_formed(result, wire.got[0][1]["choices"][0]["message"]["content"])
    assert elapsed >= 5.0


def test_a_server_that_stays_hung_is_a_timeout_after_every_attempt(server):
    backend = openai_backend(server, model=server.model, timeout_s=1.0, retries=1, backoff_s=0.2)
    wire = tapped(backend)
    result, elapsed = reason_while_hung(server, backend)
    assert error_kind(result) == ERROR_TIMEOUT and "after 2 attempts" in result.error and result.raw_text == ""
    assert len(wire.posts()) == 2 and wire.got == []
    assert 2.2 <= elapsed < 2.2 + 10.0  # two timeouts and the backoff; never the minutes of a hung client


def vlm_node(ros_context, server: Served, **params) -> VlmNode:
    values = {"backend": "openai", "base_url": server.base_url, "model": "", "max_new_tokens": 8, "retries": 0,
              "api_key_env": "", **params}
    return VlmNode(context=ros_context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def test_vlm_node_serves_reason_from_the_real_server(ros_context, server):
    vlm = vlm_node(ros_context, server, timeout_s=60.0)
    wire = tapped(vlm.backend)
    client = Client(ros_context)
    with spinning(ros_context, vlm, client.node):
        answers = [client.call(request_msg(n), timeout=60.0) for n in (3, 1)]
        assert wait_until(lambda: client.latest() is not None and client.latest().requests == 2)
    contents = [reply["choices"][0]["message"]["content"] for _, reply in wire.got[1:]]  # after GET /models
    assert [a.raw_text for a in answers] == contents
    assert all(a.success or a.error.startswith("malformed") for a in answers)
    assert counts(client.latest()) == (2, sum(not a.success for a in answers), 0, 0, 0)
    assert len(wire.posts()[0]["messages"][0]["content"]) == 7  # 3 captions, 3 images, the prompt


def test_vlm_node_answers_a_hung_server_with_a_counted_timeout(ros_context, server):
    vlm = vlm_node(ros_context, server, model=server.model, timeout_s=1.0)
    client = Client(ros_context)
    server.pause()
    try:
        with spinning(ros_context, vlm, client.node):
            started = time.monotonic()
            response = client.call(request_msg(1), timeout=30.0)
            elapsed = time.monotonic() - started
            assert wait_until(lambda: client.latest() is not None and client.latest().requests == 1)
    finally:
        server.resume()
    assert not response.success and response.error.startswith("timeout")
    assert counts(client.latest()) == (1, 0, 1, 0, 0) and elapsed < 15.0


def test_a_killed_server_is_a_counted_failure_not_a_hang(ros_context, server):
    """Last in this module: the server is killed for good (the connection is refused from then on)."""
    backend = openai_backend(server, model=server.model, timeout_s=30.0, retries=1)
    vlm = vlm_node(ros_context, server, model=server.model, timeout_s=30.0)
    server.kill()
    started = time.monotonic()
    result = backend.reason(request(1))
    assert error_kind(result) == ERROR_BACKEND and "after 2 attempts" in result.error
    assert "ConnectError" in result.error and time.monotonic() - started < 10.0
    client = Client(ros_context)
    with spinning(ros_context, vlm, client.node):
        response = client.call(request_msg(1), timeout=30.0)
        assert wait_until(lambda: client.latest() is not None and client.latest().requests == 1)
    assert not response.success and response.error.startswith("backend")
    assert counts(client.latest()) == (1, 0, 0, 1, 0)
