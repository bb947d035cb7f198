"""Every message type crosses DDS between two real rclpy nodes; the services answer over DDS."""
from __future__ import annotations

import samples
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosutil import spin_until, wait_for_subscribers

from merge_ros.msg import EntityArray, Event, ReasoningStatus, Relation, SceneState, Trigger
from merge_ros.ros import conversions
from merge_ros.srv import GetEvents, GetScene, Reason
from merge_ros.types import ReasonRequest, ReasonResult

MESSAGES = [
    (EntityArray, conversions.entity_frame_to_msg(samples.entity_frame())),
    (Trigger, conversions.trigger_to_msg(samples.trigger())),
    (Event, conversions.event_to_msg(samples.event())),
    (Relation, conversions.relation_to_msg(samples.relation())),
    (SceneState, conversions.scene_to_msg(samples.scene())),
    (ReasoningStatus, conversions.status_to_msg(samples.status())),
]


def test_every_message_type_crosses_dds(ros_context):
    import rclpy

    sender = rclpy.create_node("sender", context=ros_context)
    receiver = rclpy.create_node("receiver", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(sender)
    executor.add_node(receiver)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    received: dict[str, object] = {}
    publishers = []
    for msg_type, _ in MESSAGES:
        topic = f"test_{msg_type.__name__.lower()}"
        receiver.create_subscription(msg_type, topic, lambda m, n=msg_type.__name__: received.setdefault(n, m), qos)
        publishers.append(sender.create_publisher(msg_type, topic, qos))
    for pub in publishers:
        assert wait_for_subscribers(executor, pub), f"no subscriber matched {pub.topic_name}"
    for pub, (_, msg) in zip(publishers, MESSAGES, strict=True):
        pub.publish(msg)
    assert spin_until(executor, lambda: len(received) == len(MESSAGES))
    for msg_type, msg in MESSAGES:
        got = received[msg_type.__name__]
        assert got == msg
        for field in msg.get_fields_and_field_types():
            assert getattr(got, field) == getattr(msg, field), field
    executor.shutdown()


def test_services_round_trip_over_dds(ros_context):
    import rclpy

    server = rclpy.create_node("server", context=ros_context)
    client_node = rclpy.create_node("client", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(server)
    executor.add_node(client_node)
    seen_requests = []

    def get_scene(_req, resp):
        resp.scene = conversions.scene_to_msg(samples.scene())
        return resp

    def get_events(req, resp):
        seen_requests.append(req)
        event = conversions.event_to_msg(samples.event())
        resp.events = [event] if req.actor_id in ("", event.actor_id) else []
        return resp

    def reason(req, _resp):
        request = conversions.reason_request_from_msg(req)
        seen_requests.append(request)
        return conversions.reason_result_to_msg(ReasonResult(True, "", "raw", [samples.event()]))

    server.create_service(GetScene, "get_scene", get_scene)
    server.create_service(GetEvents, "get_events", get_events)
    server.create_service(Reason, "reason", reason)

    def call(srv_type, name, request):
        client = client_node.create_client(srv_type, name)
        assert spin_until(executor, client.service_is_ready), f"{name} not available"
        future = client.call_async(request)
        assert spin_until(executor, future.done)
        return future.result()

    assert call(GetScene, "get_scene", GetScene.Request()).scene == conversions.scene_to_msg(samples.scene())
    assert len(call(GetEvents, "get_events", GetEvents.Request(actor_id="person_1")).events) == 1
    assert call(GetEvents, "get_events", GetEvents.Request(actor_id="person_9")).events == []
    request = conversions.reason_request_to_msg(
        ReasonRequest(samples.trigger(), "prompt", [samples.frame()], ["frame t-0"], ["person_1"], ["apple_1"]))
    response = call(Reason, "reason", request)
    assert response.success and conversions.reason_result_from_msg(response).events == [samples.event()]
    assert seen_requests[-1].captions == ["frame t-0"] and seen_requests[-1].images[0].shape == (48, 64, 3)
    executor.shutdown()
