"""vlm_node over DDS: the `reason` service with the none and transformers backends, and a backend that hangs,
crashes or answers nonsense (answered, counted on vlm_status, never fatal)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from reasoning_support import config_section, params_file_context, spinning, tiny_vlm_path, wait_until
from sensor_msgs.msg import CompressedImage
from vlm_doubles import FakeVlmBackend

from merge_ros.msg import ReasoningStatus
from merge_ros.reasoning.backends import BackendLoadError
from merge_ros.ros import conversions
from merge_ros.ros.vlm_node import VlmNode, main
from merge_ros.srv import Reason
from merge_ros.types import SOURCE_PERCEPTION, ReasonRequest, Trigger

TRIGGER = Trigger(1_700_000_000_000_000_000, "camera", "person_1", "object_moving", "grasp", "cup_1")
GOOD = '{"events": [{"actor": "person_1", "action": "hold", "object": "cup_1", "robot_interaction": false}]}'
STATUS_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def request_msg(n_images: int = 2) -> Reason.Request:
    images = [np.full((64, 96, 3), 30 * (i + 1), np.uint8) for i in range(n_images)]
    captions = [f"frame t-{n_images - 1 - i}" for i in range(n_images)]
    return conversions.reason_request_to_msg(ReasonRequest(TRIGGER, "Answer with JSON only.", images, captions,
                                                  ["person_1"], ["cup_1"]))


class Client:
    """A test node calling `reason` and watching vlm_status, spun by the shared executor thread."""

    def __init__(self, context):
        import rclpy

        self.node = rclpy.create_node("reason_client", context=context)
        self.client = self.node.create_client(Reason, "reason")
        self.status: list[ReasoningStatus] = []
        self.node.create_subscription(ReasoningStatus, "vlm_status", self.status.append, STATUS_QOS)

    def call(self, request: Reason.Request, timeout: float = 20.0) -> Reason.Response:
        assert wait_until(self.client.service_is_ready), "reason service not discovered"
        future = self.client.call_async(request)
        assert wait_until(future.done, timeout), "no response"
        return future.result()

    def latest(self) -> ReasoningStatus | None:
        return self.status[-1] if self.status else None


def counts(status: ReasoningStatus) -> tuple[int, int, int, int, int]:
    return (status.requests, status.malformed, status.timeouts, status.failures, status.in_flight)


def test_none_backend_answers_over_dds(ros_context):
    vlm = VlmNode(context=ros_context)
    client = Client(ros_context)
    with spinning(ros_context, vlm, client.node):
        response = client.call(request_msg())
        assert wait_until(lambda: client.latest() is not None and client.latest().requests == 1)
    assert response.success and response.error == ""
    [event] = response.events
    assert (event.actor_id, event.action, event.object_id, event.source) == ("person_1", "grasp", "cup_1",
                                                                            SOURCE_PERCEPTION)
    assert counts(client.latest()) == (1, 0, 0, 0, 0)


def test_hung_crashed_and_nonsense_backends_are_answered_and_counted(ros_context):
    released = threading.Event()

    def hang(_request):
        released.wait(5.0)
        return GOOD

    backend = FakeVlmBackend([hang, "I think they hold a cup.", RuntimeError("segfault in kernel"), GOOD])
    vlm = VlmNode(context=ros_context, backend=backend,
                  parameter_overrides=[Parameter("timeout_s", value=0.5), Parameter("retries", value=0)])
    client = Client(ros_context)
    with spinning(ros_context, vlm, client.node):
        timed_out = client.call(request_msg())
        released.set()  # the model comes back; the next requests are answered within the deadline
        malformed = client.call(request_msg())
        crashed = client.call(request_msg())
        good = client.call(request_msg())
        assert wait_until(lambda: client.latest() is not None and client.latest().requests == 4)
    assert (timed_out.success, timed_out.error.split(":")[0]) == (False, "timeout")
    assert (malformed.success, malformed.error.split(":")[0], malformed.raw_text) == (
        False, "malformed", "I think they hold a cup.")
    assert (crashed.success, crashed.error.split(":")[0]) == (False, "backend") and "segfault" in crashed.error
    assert good.success and [(e.action, e.source) for e in good.events] == [("hold", "vlm")]
    assert counts(client.latest()) == (4, 1, 1, 1, 0)


def test_a_corrupt_image_in_the_request_is_a_counted_bad_request(ros_context):
    backend = FakeVlmBackend([GOOD])
    vlm = VlmNode(context=ros_context, backend=backend)
    client = Client(ros_context)
    request = request_msg()
    request.images[0] = CompressedImage(format="jpeg", data=b"\xff\xd8 truncated")
    with spinning(ros_context, vlm, client.node):
        response = client.call(request)
        assert wait_until(lambda: client.latest() is not None and client.latest().requests == 1)
    assert not response.success and response.error.startswith("bad_request")
    assert backend.requests == [] and counts(client.latest()) == (1, 0, 0, 1, 0)


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory):
    return tiny_vlm_path(tmp_path_factory)


def test_transformers_backend_through_the_node(ros_context, tiny_vlm):
    vlm = VlmNode(context=ros_context, parameter_overrides=[
        Parameter("backend", value="transformers"), Parameter("model", value=str(tiny_vlm)),
        Parameter("dtype", value="float32"), Parameter("max_new_tokens", value=10)])
    generate = vlm.backend.model.generate
    calls = []
    vlm.backend.model.generate = lambda **inputs: calls.append(inputs) or generate(**inputs)
    client = Client(ros_context)
    with spinning(ros_context, vlm, client.node):
        first = client.call(request_msg(3))
        second = client.call(request_msg(1))
        assert wait_until(lambda: client.latest() is not None and client.latest().requests == 2)
    assert len(calls) == 2 and calls[0]["image_grid_thw"].shape[0] == 3
    # The random model's text is noise: each answer is either parsed or counted as malformed, never an error.
    answers = [first, second]
    assert all(a.success or a.error.startswith("malformed") for a in answers)
    status = client.latest()
    assert status.malformed == sum(not a.success for a in answers) and (status.failures, status.timeouts) == (0, 0)


def test_load_failure_is_one_clear_error(ros_context):
    with pytest.raises(BackendLoadError, match="/no/such/model"):
        VlmNode(context=ros_context, parameter_overrides=[Parameter("backend", value="transformers"),
                                                          Parameter("model", value="/no/such/model")])
    assert main(["vlm_node", "--ros-args", "-p", "backend:=telepathy"]) == 2  # no such backend: a bad parameter


def test_config_file_section_is_what_the_node_declares():
    section = config_section("vlm_node")
    with params_file_context() as context:
        node = VlmNode(context=context)
        try:
            assert {name: node.get_parameter(name).value for name in section} == section
            assert set(section) == set(node.params)
        finally:
            node.destroy_node()
