"""event_node + vlm_node in one process over DDS (MultiThreadedExecutor): a camera/perception test publisher
streams a scripted pick-and-place (images + EntityArrays); triggers, candidates and reasoning counters come out.
Backends: none, a scripted double (to see the request and the VLM's candidates), the tiny random transformers
model; and no vlm_node at all."""
from __future__ import annotations

import time

import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from reasoning_support import (
    FPS,
    PERCEPTION_CANDIDATES,
    T0_NS,
    asked,
    config_section,
    params_file_context,
    render,
    run_offline,
    scene,
    scripted_answer,
    spinning,
    tiny_vlm_path,
    wait_until,
)
from sensor_msgs.msg import CompressedImage, Image
from vlm_doubles import FakeVlmBackend

from merge_ros.events import ChangeDetectorConfig
from merge_ros.msg import Entity as EntityMsg
from merge_ros.msg import EntityArray, ReasoningStatus
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import Trigger as TriggerMsg
from merge_ros.params import table
from merge_ros.reasoning.backends import NoneBackend
from merge_ros.reasoning.parse import trigger_id
from merge_ros.ros import conversions
from merge_ros.ros.event_node import EventNode, main
from merge_ros.ros.vlm_node import VlmNode
from merge_ros.types import Box, Entity, EntityFrame, EntityKind, seconds_to_ns

RELIABLE = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
SENSOR = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
STATE = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

class Stream:
    """Stands in for the camera and perception_node, and listens to event_node's outputs."""

    def __init__(self, context, compressed: bool = False, receiver: EventNode | None = None):
        self.receiver = receiver
        self.node = rclpy.create_node("camera_and_perception", context=context)
        self.compressed = compressed
        self.image_pub = self.node.create_publisher(CompressedImage if compressed else Image,
                                                    "image/compressed" if compressed else "image", SENSOR)
        self.entities_pub = self.node.create_publisher(EntityArray, "entities", RELIABLE)
        self.triggers: list[TriggerMsg] = []
        self.candidates: list[EventMsg] = []
        self.status: list[ReasoningStatus] = []
        self.node.create_subscription(TriggerMsg, "triggers", self.triggers.append, RELIABLE)
        self.node.create_subscription(EventMsg, "candidates", self.candidates.append, RELIABLE)
        self.node.create_subscription(ReasoningStatus, "reasoning_status", self.status.append, STATE)

    def connected(self, event_node: EventNode, vlm: bool) -> bool:
        return wait_until(lambda: self.image_pub.get_subscription_count() >= 1
                          and self.entities_pub.get_subscription_count() >= 1
                          and self.node.count_publishers("candidates") >= 1
                          and self.node.count_publishers("triggers") >= 1
                          and (not vlm or event_node.reason_client.service_is_ready()))

    def publish(self, t: float, entities: list[Entity]) -> None:
        stamp = T0_NS + seconds_to_ns(t)
        frame = render(entities)
        image = conversions.compressed_msg(frame, stamp, "camera") if self.compressed else \
            conversions.image_msg(frame, "bgr8", stamp, "camera")
        self.image_pub.publish(image)
        # the frame before its entities, as from a camera and a detector behind it (best effort: it may be lost)
        if self.receiver is not None:
            wait_until(lambda: self.receiver.stage.builder.newest_stamp_ns == stamp, timeout=0.5)
        self.entities_pub.publish(conversions.entity_frame_to_msg(EntityFrame(stamp, "camera", entities)))
        time.sleep(0.008)

    def play(self, seconds: float = 7.0, start: float = 0.0) -> None:
        for i in range(int(seconds * FPS)):
            t = start + i / FPS
            self.publish(t, scene(t))

    def candidate_keys(self, source: str | None = None) -> list[tuple]:
        return [(c.actor_id, c.action, c.object_id, c.relation, c.target_id) for c in self.candidates
                if source is None or c.source == source]

    def latest(self) -> ReasoningStatus | None:
        return self.status[-1] if self.status else None

    def settled(self, requests: int) -> bool:
        return wait_until(lambda: self.latest() is not None and self.latest().requests == requests
                          and self.latest().in_flight == 0, timeout=30.0)


def event_node(context, **params) -> EventNode:
    overrides = [Parameter("status_period_s", value=0.1), *(Parameter(k, value=v) for k, v in params.items())]
    return EventNode(context=context, parameter_overrides=overrides)


@pytest.fixture(scope="module")
def offline():
    """The same scene through the same stage without ROS: what the detector fires and what the VLM is asked."""
    _, triggers, candidates = run_offline(NoneBackend().reason)
    assert asked(triggers), "the scene must contain a trigger worth reasoning"
    return triggers, candidates


def test_with_the_none_backend_candidates_are_perceptions(ros_context, offline):
    triggers, expected = offline
    n = len(asked(triggers))
    events, vlm = event_node(ros_context), VlmNode(context=ros_context)
    stream = Stream(ros_context, receiver=events)
    with spinning(ros_context, events, vlm, stream.node):
        assert stream.connected(events, vlm=True)
        stream.play()
        assert stream.settled(requests=n)
        assert wait_until(lambda: len(stream.candidates) >= 2)
        time.sleep(0.2)  # nothing more may come
    assert [conversions.trigger_from_msg(t) for t in stream.triggers] == triggers
    assert stream.candidate_keys() == PERCEPTION_CANDIDATES  # the none backend's answers are not repeated
    assert [conversions.event_from_msg(c) for c in stream.candidates] == expected  # trigger IDs included
    assert [c.trigger_id for c in stream.candidates if c.trigger_id] == [trigger_id(t) for t in asked(triggers)]
    status = stream.latest()
    assert (status.requests, status.dropped, status.malformed, status.timeouts, status.failures) == (n, 0, 0, 0, 0)


def test_the_request_carries_the_guidance_and_vlm_answers_become_candidates(ros_context, offline):
    n = len(asked(offline[0]))
    backend = FakeVlmBackend([scripted_answer])
    events, vlm = event_node(ros_context), VlmNode(context=ros_context, backend=backend)
    stream = Stream(ros_context, receiver=events)
    with spinning(ros_context, events, vlm, stream.node):
        assert stream.connected(events, vlm=True)
        stream.play()
        assert stream.settled(requests=n)
        assert wait_until(lambda: len(stream.candidates) == 2 + n)
    place = next(r for r in backend.requests if r.trigger.reason == "object_rest")
    assert place.captions == ["apple_1 (apple)", "plate_1 (plate)",
                              "person_1 (tentative: place_down apple_1 on plate_1)",
                              "frame t-3", "frame t-2", "frame t-1", "frame t-0"]
    assert [img.shape[1] for img in place.images[-4:]] == [512] * 4  # 640x480 frames at 512
    assert (place.actor_ids, place.object_ids) == (["person_1"], ["apple_1", "plate_1"])
    assert "place_down apple_1 on plate_1" in place.prompt
    # live over DDS and offline without ROS: the same candidates (the VLM's agreement included)
    _, _, offline_candidates = run_offline(FakeVlmBackend([scripted_answer]).reason)

    def order(e):
        return e.stamp_ns, e.source

    live = sorted((conversions.event_from_msg(c) for c in stream.candidates), key=order)
    assert live == sorted(offline_candidates, key=order)
    assert ("person_1", "place_down", "apple_1", "on", "plate_1") in stream.candidate_keys("vlm")


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory):
    return tiny_vlm_path(tmp_path_factory)


def test_tiny_transformers_vlm_end_to_end(ros_context, tiny_vlm, offline):
    n = len(asked(offline[0]))
    vlm = VlmNode(context=ros_context, parameter_overrides=[
        Parameter("backend", value="transformers"), Parameter("model", value=str(tiny_vlm)),
        Parameter("dtype", value="float32"), Parameter("max_new_tokens", value=16)])
    generate = vlm.backend.model.generate
    calls = []
    vlm.backend.model.generate = lambda **inputs: calls.append(inputs) or generate(**inputs)
    events = event_node(ros_context)
    stream = Stream(ros_context, receiver=events)
    with spinning(ros_context, events, vlm, stream.node):
        assert stream.connected(events, vlm=True)
        stream.play()
        assert stream.settled(requests=n)
        # the node stays up after the random model's answers: a newcomer is still noticed
        newcomer = Entity("person_2", EntityKind.PERSON, "person", Box(450, 50, 620, 450), 0.9)
        for i in range(4):
            stream.publish(7.0 + i / FPS, [*scene(7.0), newcomer])
        assert wait_until(lambda: any(t.actor_id == "person_2" for t in stream.triggers))
    assert len(calls) == n and all(c["image_grid_thw"].shape[0] == 7 for c in calls)  # 2 objects, 1 actor, 4 frames
    assert stream.candidate_keys("perception") == PERCEPTION_CANDIDATES
    status = stream.latest()
    # Random text: whatever did not parse is counted as malformed; nothing failed or timed out.
    assert (status.requests, status.failures, status.timeouts, status.in_flight) == (n, 0, 0, 0)
    vlm_candidates = [c for c in stream.candidates if c.source == "vlm"]
    assert status.malformed <= n and (status.malformed < n or not vlm_candidates)


def test_without_vlm_node_perception_candidates_still_flow(ros_context, offline):
    n = len(asked(offline[0]))
    events = event_node(ros_context)
    stream = Stream(ros_context, receiver=events)
    with spinning(ros_context, events, stream.node):
        assert stream.connected(events, vlm=False)
        stream.play()
        assert stream.settled(requests=n)
        assert wait_until(lambda: len(stream.candidates) == 2)
    assert stream.candidate_keys() == PERCEPTION_CANDIDATES
    assert all(c.trigger_id == "" for c in stream.candidates)  # nobody was asked: grounding need not wait
    status = stream.latest()
    assert (status.requests, status.failures, status.in_flight) == (n, n, 0)


def test_use_vlm_false_sends_nothing(ros_context):
    events = event_node(ros_context, use_vlm=False)
    stream = Stream(ros_context, receiver=events)
    with spinning(ros_context, events, stream.node):
        assert stream.connected(events, vlm=False)
        stream.play()
        assert wait_until(lambda: len(stream.candidates) == 2)
        time.sleep(0.3)
    assert stream.candidate_keys() == PERCEPTION_CANDIDATES
    assert stream.latest().requests == 0 and stream.latest().failures == 0


def test_odd_inputs_are_skipped_and_counted(ros_context):
    events = event_node(ros_context, compressed=True)
    stream = Stream(ros_context, compressed=True, receiver=events)
    with spinning(ros_context, events, stream.node):
        assert stream.connected(events, vlm=False)
        corrupt = CompressedImage(format="jpeg", data=b"\xff\xd8 not really")
        corrupt.header.stamp = conversions.ns_to_time(T0_NS)
        stream.image_pub.publish(corrupt)  # decoded lazily: when the entities of its stamp need a reference crop
        assert wait_until(lambda: events.stage.builder.newest_stamp_ns == T0_NS)
        stream.entities_pub.publish(conversions.entity_frame_to_msg(EntityFrame(T0_NS, "camera", scene(0.0))))
        stream.entities_pub.publish(EntityArray())  # no entities at all (and an old stamp)
        bad = conversions.entity_frame_to_msg(EntityFrame(T0_NS + 1, "camera", scene(0.0)))
        bad.entities.append(EntityMsg(id="thing_1", kind=9))  # an entity kind nobody knows
        stream.entities_pub.publish(bad)
        assert wait_until(lambda: events.bad_images == 1 and events.bad_frames == 1)
        stream.play(seconds=0.5, start=1.0)  # the stream goes on: person_1 appears after 3 frames
        assert wait_until(lambda: [t.reason for t in stream.triggers] == ["actor_appeared"])
        # cropped from the good frames; an entity frame may overtake its camera frame (two topics), so the crop
        # can come from a later pair
        assert wait_until(lambda: events.stage.builder.references.keys() == {"apple_1", "plate_1"})


def test_detector_fields_are_parameters_with_their_docs(ros_context):
    node = event_node(ros_context, cooldown_s=2.5, container_labels=["crate"])
    try:
        config = node.stage.detector.config
        assert config.cooldown_s == 2.5 and config.container_labels == ("crate",)
        docs = {name: p.description for name, p in table(ChangeDetectorConfig).items()}
        for name, doc in docs.items():
            descriptor = node.describe_parameter(name)
            assert descriptor.description == doc and doc
        assert node.describe_parameter("contact_frames").integer_range[0].from_value == 1
        assert node.describe_parameter("frames").integer_range[0].to_value == 16
    finally:
        node.destroy_node()


def test_bad_parameters_stop_the_node_with_a_clear_error(ros_context):
    with pytest.raises(ValueError, match="hysteresis"):
        event_node(ros_context, contact_enter=0.5, contact_exit=0.1)
    assert main(["event_node", "--ros-args", "-p", "frames:=0"]) == 2


def test_config_file_section_is_what_the_node_declares():
    section = config_section("event_node")
    with params_file_context() as context:
        node = EventNode(context=context)
        try:  # every key is a parameter (no stale or misspelt ones) and arrives as written
            assert {name: node.get_parameter(name).value for name in section} == section
        finally:
            node.destroy_node()
