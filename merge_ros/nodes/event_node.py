"""event_node: entity frames and camera frames in; triggers, candidate events and reasoning counters out.

A thin adapter around merge_ros.reasoning.stage.EventStage (the change detector, guided requests through a
bounded dispatcher, the candidates that follow; see there for the rules). Each EntityArray advances the stage;
camera frames are buffered for the requests and matched by header stamp. Requests go to vlm_node's `reason`
service asynchronously: the callback never waits for an answer, and the answer's events are published as
candidates when it arrives. Without the service, perception's candidates still flow and the failure count grows.
With vlm_node's `none` backend the answers only repeat perception: set use_vlm false to skip the round trip.
"""
from __future__ import annotations

import functools

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from merge_ros import conversions as cv
from merge_ros.io.images import ImageError
from merge_ros.msg import EntityArray, ReasoningStatus
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import Trigger as TriggerMsg
from merge_ros.nodes.entry import run_node
from merge_ros.nodes.parameters import declare_all
from merge_ros.nodes.registry import subscribe_registry
from merge_ros.reasoning.event_parameters import EVENT_PARAMETERS, build_stage
from merge_ros.srv import Reason
from merge_ros.types import EntityKind, Event, ReasonRequest, Trigger

# Triggers and candidates: none may be lost.
EVENTS_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# Entity frames: every one counts for the detector's debounce (matches perception_node's reliable publisher).
ENTITIES_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# Camera frames: only the newest matters; the node keeps its own short buffer for the prompt.
IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
# Counters are state: a late subscriber gets the latest at once.
STATUS_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
LOG_THROTTLE_S = 5.0

class EventNode(Node):
    def __init__(self, node_name: str = "event_node", **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...)."""
        super().__init__(node_name, **kwargs)
        p = declare_all(self, EVENT_PARAMETERS)
        self.params = p
        self.reason_client = self.create_client(Reason, "reason")
        self.stage = build_stage(
            p, self._call_reason, on_trigger=self._publish_trigger, on_candidate=self._publish_candidate,
            ready=self.reason_client.service_is_ready, decode=cv.reason_result_from_msg,
            on_problem=lambda text: self.get_logger().warning(text, throttle_duration_sec=LOG_THROTTLE_S))
        self._bad_raw_images = 0
        self.bad_frames = 0

        subscribe_registry(self, lambda _kind, object_id, image: self.stage.builder.register_reference(
            object_id, image), kinds=(EntityKind.OBJECT,))
        self._trigger_pub = self.create_publisher(TriggerMsg, "triggers", EVENTS_QOS)
        self._candidate_pub = self.create_publisher(EventMsg, "candidates", EVENTS_QOS)
        self._status_pub = self.create_publisher(ReasoningStatus, "reasoning_status", STATUS_QOS)
        self.create_subscription(EntityArray, "entities", self._on_entities, ENTITIES_QOS)
        image_type, topic = (CompressedImage, "image/compressed") if p["compressed"] else (Image, "image")
        self.create_subscription(image_type, topic, self._on_image, IMAGE_QOS)
        self.create_timer(p["status_period_s"], self._tick)
        self._publish_status()

    @property
    def bad_images(self) -> int:
        """Camera frames skipped because they could not be decoded."""
        return self._bad_raw_images + self.stage.builder.bad_frames

    def _on_image(self, msg: Image | CompressedImage) -> None:
        stamp = cv.time_to_ns(msg.header.stamp)
        if isinstance(msg, CompressedImage):  # decoded only if a request or a reference crop needs it
            self.stage.add_frame(stamp, functools.partial(cv.image_msg_to_bgr8, msg))
            return
        try:
            self.stage.add_frame(stamp, cv.image_msg_to_bgr8(msg))
        except (ImageError, ValueError) as exc:
            self._bad_raw_images += 1
            self.get_logger().warning(f"skipping camera frame ({self.bad_images} so far): {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)

    def _on_entities(self, msg: EntityArray) -> None:
        try:
            self.stage.update(cv.entity_frame_from_msg(msg))
        except Exception as exc:  # a malformed frame must not stop the stream
            self.bad_frames += 1
            self.get_logger().error(f"skipping entity frame ({self.bad_frames} so far): {type(exc).__name__}: {exc}",
                                    throttle_duration_sec=LOG_THROTTLE_S)

    def _call_reason(self, request: ReasonRequest):
        return self.reason_client.call_async(cv.reason_request_to_msg(request))

    def _publish_trigger(self, trigger: Trigger) -> None:
        self._trigger_pub.publish(cv.trigger_to_msg(trigger))

    def _publish_candidate(self, event: Event) -> None:
        self._candidate_pub.publish(cv.event_to_msg(event))

    def _tick(self) -> None:
        self.stage.expire()
        self._publish_status()

    def _publish_status(self) -> None:
        self._status_pub.publish(cv.status_to_msg(self.stage.status(self.get_clock().now().nanoseconds)))

    def destroy_node(self) -> None:
        self.stage.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node("event_node", EventNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
