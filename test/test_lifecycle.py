"""perception_node and vlm_node as lifecycle (managed) nodes: models load at configure and go at cleanup, an
inactive node does no work but keeps its subscriptions and state, a bad parameter fails configure with one line
naming it, and autostart (the default) brings a node up as it is created. In one process, over DDS; the
`ros2 lifecycle` command line and the launch files are tested in test_launch_graph.py and test_launch_testing.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rosutil import spin_until, wait_for_subscribers
from sensor_msgs.msg import Image
from test_vlm_node import Client, request_msg
from vlm_doubles import FakeVlmBackend

from merge_ros.io.annotations import AnnotatedFrame, write_annotations
from merge_ros.msg import EntityArray
from merge_ros.ros import conversions
from merge_ros.ros.perception_node import PerceptionNode
from merge_ros.ros.qos import IMAGE_QOS
from merge_ros.ros.vlm_node import VlmNode
from merge_ros.types import Box, Entity, EntityKind, ns_to_seconds

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
T0 = 1_700_000_000_000_000_000
GOOD = '{"events": [{"actor": "person_1", "action": "hold", "object": "cup_1", "robot_interaction": false}]}'


def stamp(i: int) -> int:
    return T0 + i * 100_000_000


@pytest.fixture
def annotations_file(tmp_path):
    path = tmp_path / "annotations.jsonl"
    cup = [Entity("cup_1", EntityKind.OBJECT, "cup", Box(10.0, 10.0, 30.0, 30.0), 0.9, track_id=1)]
    write_annotations(path, [AnnotatedFrame(ns_to_seconds(stamp(i)), "", cup) for i in range(100)])
    return path


class Camera:
    """A test node publishing frames to perception_node and collecting its entities, spun with it."""

    def __init__(self, context, node: PerceptionNode):
        import rclpy

        self.node = node
        self.tester = rclpy.create_node("lifecycle_tester", context=context)
        self.pub = self.tester.create_publisher(Image, "image", IMAGE_QOS)
        self.received: list[EntityArray] = []
        self.tester.create_subscription(EntityArray, "entities", self.received.append, 50)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.executor.add_node(self.tester)

    def frame(self, i: int) -> Image:
        return conversions.image_msg(np.full((48, 64, 3), 90, np.uint8), "bgr8", stamp(i), "camera")

    def entities_for(self, i: int, timeout: float = 10.0) -> bool:
        """Publish frame i until its entities come back (best effort may drop one); whether they did."""
        for _ in range(int(timeout / 0.5)):
            self.pub.publish(self.frame(i))
            if spin_until(self.executor, lambda: any(m.header.stamp == self.frame(i).header.stamp
                                                     for m in self.received), timeout=0.5):
                return True
        return False

    def close(self) -> None:
        self.executor.shutdown()
        self.tester.destroy_node()
        self.node.destroy_node()


def perception(context, annotations_file, **extra) -> PerceptionNode:
    values = {"detector": "annotations", "annotations_file": str(annotations_file), "identity.use_hint_ids": True,
              **extra}
    return PerceptionNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def test_autostart_false_leaves_perception_unconfigured_and_parameters_settable(ros_context, annotations_file):
    node = perception(ros_context, annotations_file, autostart=False)
    try:
        assert (node.configured, node.active, node.pipeline) == (False, False, None)
        assert node.count_subscribers("image") == 0 and node._worker is None  # no camera, no worker, no model
        assert node.set_parameters([Parameter("frame_id", value="table_camera")])[0].successful
        assert node.trigger_configure() == SUCCESS
        assert node.pipeline is not None and node.pipeline.frame_id == "table_camera"
        refused = node.set_parameters([Parameter("frame_id", value="other")])[0]
        assert not refused.successful and "cleanup" in refused.reason
    finally:
        node.destroy_node()


def test_deactivated_perception_takes_no_frames_and_resumes_on_activate(ros_context, annotations_file):
    camera = Camera(ros_context, perception(ros_context, annotations_file))
    node = camera.node
    try:
        assert wait_for_subscribers(camera.executor, camera.pub)
        assert camera.entities_for(0)
        subscription = node._sub
        assert node.trigger_deactivate() == SUCCESS
        processed = node.counters.processed
        for i in range(1, 4):
            camera.pub.publish(camera.frame(i))
            assert spin_until(camera.executor, lambda i=i: node.counters.ignored >= i, timeout=5.0)
        assert node.counters.processed == processed and not node._pending
        assert node._sub is subscription and node.count_publishers("image") == 1  # the subscription stayed
        assert node.trigger_activate() == SUCCESS
        assert camera.entities_for(7)
        assert node.counters.processed > processed
        # the identity kept across the pause: the cup is the same instance before and after
        assert {e.id for m in camera.received for e in m.entities} == {"cup_1"}
    finally:
        camera.close()


def test_cleanup_releases_the_models_and_configure_builds_them_again(ros_context, annotations_file):
    camera = Camera(ros_context, perception(ros_context, annotations_file))
    node = camera.node
    try:
        worker = node._worker
        assert node.trigger_deactivate() == SUCCESS and node.trigger_cleanup() == SUCCESS
        assert (node.pipeline, node._sub, node._worker, node.configured) == (None, None, None, False)
        assert not worker.is_alive() and node.count_subscribers("image") == 0
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert wait_for_subscribers(camera.executor, camera.pub)
        assert camera.entities_for(2)
    finally:
        camera.close()


def test_a_bad_parameter_fails_configure_with_one_line_naming_it(ros_context, annotations_file, tmp_path, capfd):
    node = perception(ros_context, annotations_file, autostart=False)
    try:
        assert node.set_parameters([Parameter("annotations_file", value=str(tmp_path / "missing.jsonl"))])[0].successful
        assert node.trigger_configure() == FAILURE
        lines = [line for line in capfd.readouterr().err.splitlines() if "configure failed" in line]
        assert len(lines) == 1 and "[perception_node]" in lines[0] and "parameter 'annotations_file'" in lines[0]
        assert (node.configured, node.pipeline, node._worker, node._sub) == (False, None, None, None)
        # fixed while unconfigured, the next configure succeeds
        assert node.set_parameters([Parameter("annotations_file", value=str(annotations_file))])[0].successful
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert node.active
    finally:
        node.destroy_node()


def test_autostart_raises_the_configure_error(ros_context, tmp_path):
    from merge_ros.params import ParameterError

    with pytest.raises(ParameterError, match="parameter 'annotations_file'"):
        perception(ros_context, tmp_path / "missing.jsonl")


def test_inactive_vlm_answers_unavailable_and_resumes(ros_context):
    from reasoning_support import spinning, wait_until

    backend = FakeVlmBackend([GOOD])
    vlm = VlmNode(context=ros_context, backend=backend)
    client = Client(ros_context)
    with spinning(ros_context, vlm, client.node):
        assert vlm.trigger_deactivate() == SUCCESS
        inactive = client.call(request_msg())
        assert vlm.trigger_activate() == SUCCESS
        active = client.call(request_msg())
        assert wait_until(lambda: client.latest() is not None and client.latest().requests == 2)
        assert vlm.trigger_deactivate() == SUCCESS and vlm.trigger_cleanup() == SUCCESS
        unconfigured = client.call(request_msg())
        released = (vlm.backend, vlm._worker)
        assert wait_until(lambda: client.latest().requests == 3)
    assert not inactive.success and inactive.error.startswith("unavailable: vlm_node is inactive")
    assert "to resume: ros2 lifecycle set /vlm_node activate" in inactive.error
    assert active.success and len(backend.requests) == 1  # the inactive request never reached the model
    assert unconfigured.error.startswith("unavailable: vlm_node is unconfigured") and released == (None, None)
    assert client.latest().failures == 2  # both refusals are counted


def test_a_vlm_that_cannot_load_fails_configure_naming_the_model_parameter(ros_context, capfd):
    vlm = VlmNode(context=ros_context, parameter_overrides=[
        Parameter("autostart", value=False), Parameter("backend", value="transformers"),
        Parameter("model", value="/no/such/model")])
    try:
        assert vlm.trigger_configure() == FAILURE
        [line] = [line for line in capfd.readouterr().err.splitlines() if "configure failed" in line]
        assert "[vlm_node]" in line and "parameter 'model'" in line and "/no/such/model" in line
        assert vlm.backend is None
    finally:
        vlm.destroy_node()


def test_an_impossible_transition_over_the_service_is_refused_and_the_node_keeps_running(ros_context):
    """As `ros2 lifecycle set /vlm_node activate` on an active node: rclpy itself would raise in the executor."""
    import rclpy
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from reasoning_support import spinning, wait_until

    vlm = VlmNode(context=ros_context, backend=FakeVlmBackend([GOOD]))
    client = Client(ros_context)
    tester = rclpy.create_node("transition_tester", context=ros_context)
    change = tester.create_client(ChangeState, "/vlm_node/change_state")
    with spinning(ros_context, vlm, client.node, tester):
        assert wait_until(change.service_is_ready)
        answers = []
        for transition in (Transition.TRANSITION_ACTIVATE, Transition.TRANSITION_DEACTIVATE):
            future = change.call_async(ChangeState.Request(transition=Transition(id=transition)))
            assert wait_until(future.done)
            answers.append(future.result().success)
        assert vlm.trigger_activate() == SUCCESS
        answered = client.call(request_msg())  # the executor survived the refused transition
    assert answers == [False, True] and answered.success
