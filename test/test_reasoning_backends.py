"""The VLM backends: `none`; `openai` against a scripted HTTP server on 127.0.0.1 for the answers and faults a real
server cannot be made to give (the real one, transformers serve, is in test_openai_server.py); `transformers` with
a tiny random-weight Qwen2-VL built offline and loaded by path, from a folder or from the Hugging Face cache, and
refused at once when its model is nowhere to be had offline."""
from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
from reasoning_support import tiny_vlm_path
from vlm_doubles import Reply, ScriptedChatServer

from merge_ros.params import ParameterError
from merge_ros.reasoning.backends import BackendLoadError, make_backend
from merge_ros.reasoning.parameters import VLM_PARAMETERS, BackendConfig
from merge_ros.reasoning.parse import trigger_id
from merge_ros.reasoning.status import ERROR_BACKEND, ERROR_MALFORMED, error_kind
from merge_ros.types import SOURCE_PERCEPTION, SOURCE_VLM, ReasonRequest, Trigger

TRIGGER = Trigger(1_700_000_000_000_000_000, "camera", "person_1", "object_moving", "grasp", "object_3")
GOOD = '{"events": [{"actor": "person_1", "action": "grasp", "object": "object_3", "robot_interaction": false}]}'


def request(n_images: int = 2) -> ReasonRequest:
    images = [np.full((32 + 8 * i, 48, 3), 40 * i, np.uint8) for i in range(n_images)]
    captions = ["object_3 (cup)"] + [f"frame t-{n_images - 2 - i}" for i in range(n_images - 1)]
    return ReasonRequest(TRIGGER, "Answer with JSON only.", images, captions[:n_images], ["person_1", "person_2"],
                         ["object_3", "object_5"])


def make(name: str, **params):
    return make_backend(BackendConfig(backend=name, **params))


def openai(server: ScriptedChatServer, **kwargs):
    params = {"model": "served", "timeout_s": 5.0, "retries": 1, "backoff_s": 0.01, **kwargs}
    return make("openai", base_url=server.base_url, **params)


# --- none --------------------------------------------------------------------------------------------------------

def test_none_answers_perceptions_candidate():
    result = make("none").reason(request())
    assert result.success and len(result.events) == 1
    event = result.events[0]
    assert (event.actor_id, event.action, event.object_id, event.source) == ("person_1", "grasp", "object_3",
                                                                            SOURCE_PERCEPTION)
    assert event.trigger_id == trigger_id(TRIGGER) and event.stamp_ns == TRIGGER.stamp_ns


def test_none_answers_nothing_for_a_trigger_that_is_no_event():
    contact = ReasonRequest(Trigger(1, "camera", "person_1", "contact_start", "grasp", "object_3"), "")
    result = make("none").reason(contact)
    assert result.success and result.events == []


# --- load errors ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,params,fragment", [
    ("transformers", {"model": ""}, "'model' is empty"),
    ("transformers", {"model": "/nonexistent/model/dir"}, "/nonexistent/model/dir"),
    ("openai", {"base_url": ""}, "'base_url' is empty"),
])
def test_a_backend_that_cannot_load_says_why(name, params, fragment):
    with pytest.raises(BackendLoadError, match=fragment.replace("(", r"\(")):
        make(name, **params)


@pytest.mark.parametrize("params,parameter", [({"backend": "gpt"}, "backend"), ({"dtype": "int3"}, "dtype"),
                                              ({"json_mode": "yaml"}, "json_mode"), ({"retries": -1}, "retries")])
def test_a_setting_no_backend_has_is_refused_naming_the_parameter(params, parameter):
    with pytest.raises(ParameterError) as err:
        BackendConfig(**params)
    assert err.value.parameter == parameter


# --- openai: the faults a real server cannot be made to show -------------------------------------------------------
# (a real OpenAI-compatible server, transformers serve, answers the protocol in test_openai_server.py: images as
# data URLs, the model the server lists, random answers parsed or reported malformed, a hung and a killed server)

def test_openai_well_formed_answer_becomes_events_and_the_key_goes_in_the_header(monkeypatch):
    """A random-weight model never answers well-formed JSON, so the scripted server does: parsed, validated and
    marked as the VLM's; and the API key (which transformers serve ignores) is sent as a bearer token."""
    monkeypatch.setenv("TEST_VLM_KEY", "sk-test-123")
    with ScriptedChatServer([Reply(GOOD)]) as server:
        result = openai(server, api_key_env="TEST_VLM_KEY", max_new_tokens=77).reason(request(3))
    assert result.success and result.raw_text == GOOD
    assert [(e.actor_id, e.action, e.object_id, e.source) for e in result.events] == [
        ("person_1", "grasp", "object_3", SOURCE_VLM)]
    body, headers = server.requests[0], server.headers[0]
    assert headers["Authorization"] == "Bearer sk-test-123"
    parts = body["messages"][0]["content"]
    assert [p["text"] for p in parts[0:6:2]] == ["object_3 (cup):", "frame t-1:", "frame t-0:"]
    url = parts[3]["image_url"]["url"]
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (40, 48, 3)  # the second image, as sent


def test_openai_server_error_is_retried_with_backoff():
    with ScriptedChatServer([Reply(status=429), Reply(status=500), Reply(status=503), Reply(GOOD)]) as server:
        result = openai(server, retries=3).reason(request())
    assert result.success and len(server.requests) == 4


def test_openai_persistent_server_error_is_a_failure():
    with ScriptedChatServer([Reply(status=500)]) as server:
        result = openai(server, retries=1).reason(request())
    assert error_kind(result) == ERROR_BACKEND and "HTTP 500" in result.error and len(server.requests) == 2


def test_openai_client_error_is_not_retried():
    with ScriptedChatServer([Reply(status=401, body='{"error": "bad key"}')]) as server:
        result = openai(server, retries=3).reason(request())
    assert error_kind(result) == ERROR_BACKEND and "401" in result.error and len(server.requests) == 1


def test_openai_server_without_structured_output_is_asked_again_without_it():
    """transformers serve accepts response_format (and ignores it); a server without structured output that
    refuses it answers HTTP 400, and is not asked with it again."""
    with ScriptedChatServer([Reply(GOOD)], reject_response_format=True) as server:
        backend = openai(server, json_mode="object")
        assert backend.reason(request()).success
        assert backend.reason(request()).success
    assert ["response_format" in body for body in server.requests] == [True, False, False]
    assert server.requests[0]["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("body", ['{"unexpected": true}', "not json at all", "[1, 2]"])
def test_openai_reply_in_the_wrong_protocol_is_a_failure(body):
    with ScriptedChatServer([Reply(status=200, body=body)]) as server:
        result = openai(server).reason(request())
    assert error_kind(result) == ERROR_BACKEND


def test_openai_content_as_text_parts():
    parts = json.dumps({"choices": [{"message": {"content": [{"type": "text", "text": GOOD[:30]},
                                                             {"type": "text", "text": GOOD[30:]}]}}]})
    with ScriptedChatServer([Reply(body=parts)]) as server:
        assert openai(server).reason(request()).success


# --- transformers (tiny random-weight Qwen2-VL) -------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory):
    return tiny_vlm_path(tmp_path_factory)


@pytest.fixture(scope="module")
def transformers_backend(tiny_vlm):
    backend = make("transformers", model=str(tiny_vlm), device="cpu", dtype="float32", max_new_tokens=12)
    calls = []
    generate = backend.model.generate

    def spy(**inputs):
        calls.append(inputs)
        return generate(**inputs)

    backend.model.generate = spy
    backend.generate_calls = calls
    return backend


@pytest.mark.parametrize("n_images", [0, 1, 3])
def test_transformers_request_reaches_generate_and_the_answer_is_parsed(transformers_backend, n_images):
    before = len(transformers_backend.generate_calls)
    result = transformers_backend.reason(request(n_images))
    assert len(transformers_backend.generate_calls) == before + 1
    inputs = transformers_backend.generate_calls[-1]
    assert ("pixel_values" in inputs) == (n_images > 0)
    if n_images:
        assert inputs["image_grid_thw"].shape[0] == n_images  # every image reached the vision tower
    assert isinstance(result.raw_text, str)
    # Random weights: the text is noise, so the answer is parsed and (almost surely) found malformed; either
    # outcome is a result, never an exception.
    assert result.success or error_kind(result) == ERROR_MALFORMED


def test_transformers_crash_in_generate_is_a_failed_result(transformers_backend, monkeypatch):
    def crash(**_):
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(transformers_backend.model, "generate", crash)
    result = transformers_backend.reason(request())
    assert error_kind(result) == ERROR_BACKEND and "device-side assert" in result.error


def test_every_backend_takes_its_defaults_from_the_one_config(tiny_vlm):
    """One BackendConfig: a backend's retries and token budget are vlm_node's parameter defaults, whatever the
    path that made it (the node, the offline graph, a direct call)."""
    defaults = {name: p.default for name, p in VLM_PARAMETERS.items()}
    for backend in (make("openai"), make("transformers", model=str(tiny_vlm), dtype="float32")):
        assert (backend.retries, backend.backoff_s, backend.max_new_tokens) == (
            defaults["retries"], defaults["backoff_s"], defaults["max_new_tokens"])
    assert BackendConfig().deadline_s == defaults["timeout_s"] * (defaults["retries"] + 1) + defaults["backoff_s"]


# --- transformers: where the model comes from ---------------------------------------------------------------------

@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache of this test's own (HF_HUB_CACHE), offline unless a test says otherwise."""
    import huggingface_hub
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: True)
    return cache


def test_a_hub_id_in_the_local_cache_loads_from_it_offline(tiny_vlm, hub_cache):
    """The layout `hf download` leaves (models--ORG--NAME/snapshots/REV, refs/main naming REV) is found and loaded
    with no network: as on a robot whose cache was filled on a connected machine."""
    import shutil

    from merge_ros.reasoning.backends.transformers_backend import model_source

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = hub_cache / "models--merge-ros-test--tiny-vlm"
    shutil.copytree(tiny_vlm, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    assert model_source("merge-ros-test/tiny-vlm") == str(repo / "snapshots" / revision)
    backend = make("transformers", model="merge-ros-test/tiny-vlm", dtype="float32", max_new_tokens=4)
    assert type(backend.model).__name__ == "Qwen2VLForConditionalGeneration"


def test_a_hub_id_that_is_not_cached_is_refused_at_once_offline_saying_how_to_get_it(hub_cache, monkeypatch):
    import httpx

    asked = []
    monkeypatch.setattr(httpx.Client, "send", lambda *a, **k: asked.append(a))  # any HTTP request at all
    with pytest.raises(BackendLoadError) as err:
        make("transformers", model="Qwen/Qwen2.5-VL-3B-Instruct")
    message = str(err.value)
    assert "'Qwen/Qwen2.5-VL-3B-Instruct' is neither a local folder nor in the Hugging Face cache" in message
    assert str(hub_cache) in message and "HF_HUB_OFFLINE is set" in message
    assert "`hf download Qwen/Qwen2.5-VL-3B-Instruct`" in message and "HF_HOME" in message
    assert asked == []


def test_a_hub_id_that_is_not_cached_is_refused_when_the_hub_cannot_be_reached(hub_cache, monkeypatch):
    """Online mode, but nothing answers at the hub's address (here a closed port on 127.0.0.1): one probe, refused,
    and the same advice, instead of the hub client's minutes of retries."""
    import socket

    import huggingface_hub
    from huggingface_hub import constants

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: connections are refused
    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(BackendLoadError) as err:
        make("transformers", model="Qwen/Qwen2.5-VL-3B-Instruct")
    assert f"http://127.0.0.1:{port}: ConnectError" in str(err.value) and "hf download" in str(err.value)
