"""event_node: entity frames and camera frames in; stage steps, triggers, candidates and reasoning counters out.

A thin adapter around merge_ros.events.stage.EventStage (the change detector, guided requests through a
bounded dispatcher, the candidates that follow; see there for the rules). Each EntityArray advances the stage by
one step, published on stage_steps (the frame and its candidates in one message, for grounding_node); camera
frames are buffered for the requests and matched by header stamp. Requests go to vlm_node's `reason` service
asynchronously: the callback never waits for an answer, and the answer's events go out as a step of their own
when it arrives. Every candidate is also published on its own on `candidates`, for observers and recordings.
Without the service, perception's candidates still flow and the failure count grows. With vlm_node's `none`
backend the answers only repeat perception: set use_vlm false to skip the round trip.
"""
from __future__ import annotations

import functools

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from merge_ros.events.parameters import EVENT_PARAMETERS, build_stage
from merge_ros.io.images import ImageError
from merge_ros.msg import EntityArray, ReasoningStatus, StageStep
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import Trigger as TriggerMsg
from merge_ros.params import config_of
from merge_ros.ros import conversions
from merge_ros.ros.entry import run_node
from merge_ros.ros.parameters import declare_all
from merge_ros.ros.qos import LOG_THROTTLE_S, STATE_QOS, STREAM_QOS, subscribe_camera
from merge_ros.ros.registry import subscribe_registry
from merge_ros.srv import Reason
from merge_ros.topics import (
    CANDIDATES,
    ENTITIES,
    REASON_SERVICE,
    REASONING_STATUS,
    STAGE_STEPS,
    TRIGGERS,
    CameraInput,
)
from merge_ros.types import EntityKind, Event, ReasonRequest, Trigger
from merge_ros.types import StageStep as CoreStep


class EventNode(Node):
    def __init__(self, node_name: str = "event_node", **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...)."""
        super().__init__(node_name, **kwargs)
        p = declare_all(self, EVENT_PARAMETERS)
        self.params = p
        self.reason_client = self.create_client(Reason, REASON_SERVICE)
        self._trigger_pub = self.create_publisher(TriggerMsg, TRIGGERS, STREAM_QOS)
        self._candidate_pub = self.create_publisher(EventMsg, CANDIDATES, STREAM_QOS)
        self._step_pub = self.create_publisher(StageStep, STAGE_STEPS, STREAM_QOS)
        self._status_pub = self.create_publisher(ReasoningStatus, REASONING_STATUS, STATE_QOS)
        self.stage = build_stage(
            p, self._call_reason, on_step=self._publish_step, on_trigger=self._publish_trigger,
            on_candidate=self._publish_candidate, ready=self.reason_client.service_is_ready,
            decode=conversions.reason_result_from_msg,
            on_problem=lambda text: self.get_logger().warning(text, throttle_duration_sec=LOG_THROTTLE_S))
        self._bad_raw_images = 0
        self.bad_frames = 0

        subscribe_registry(self, lambda _kind, object_id, image: self.stage.builder.register_reference(
            object_id, image), kinds=(EntityKind.OBJECT,))
        self.create_subscription(EntityArray, ENTITIES, self._on_entities, STREAM_QOS)
        subscribe_camera(self, config_of(CameraInput, p), self._on_image)
        self.create_timer(p["status_period_s"], self._tick)
        self._publish_status()

    @property
    def bad_images(self) -> int:
        """Camera frames skipped because they could not be decoded."""
        return self._bad_raw_images + self.stage.builder.bad_frames

    def _on_image(self, msg: Image | CompressedImage) -> None:
        stamp = conversions.time_to_ns(msg.header.stamp)
        if isinstance(msg, CompressedImage):  # decoded only if a request or a reference crop needs it
            self.stage.add_frame(stamp, functools.partial(conversions.image_msg_to_bgr8, msg))
            return
        try:
            self.stage.add_frame(stamp, conversions.image_msg_to_bgr8(msg))
        except (ImageError, ValueError) as exc:
            self._bad_raw_images += 1
            self.get_logger().warning(f"skipping camera frame ({self.bad_images} so far): {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)

    def _on_entities(self, msg: EntityArray) -> None:
        try:
            self.stage.update(conversions.entity_frame_from_msg(msg))
        except Exception as exc:  # a malformed frame must not stop the stream
            self.bad_frames += 1
            self.get_logger().error(f"skipping entity frame ({self.bad_frames} so far): {type(exc).__name__}: {exc}",
                                    throttle_duration_sec=LOG_THROTTLE_S)

    def _call_reason(self, request: ReasonRequest):
        return self.reason_client.call_async(conversions.reason_request_to_msg(request))

    def _publish_trigger(self, trigger: Trigger) -> None:
        self._trigger_pub.publish(conversions.trigger_to_msg(trigger))

    def _publish_candidate(self, event: Event) -> None:
        self._candidate_pub.publish(conversions.event_to_msg(event))

    def _publish_step(self, step: CoreStep) -> None:
        self._step_pub.publish(conversions.stage_step_to_msg(step))

    def _tick(self) -> None:
        self.stage.expire()
        self._publish_status()

    def _publish_status(self) -> None:
        self._status_pub.publish(conversions.status_to_msg(self.stage.status(self.get_clock().now().nanoseconds)))

    def destroy_node(self) -> None:
        self.stage.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node("event_node", EventNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
