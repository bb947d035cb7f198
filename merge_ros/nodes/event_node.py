"""event_node: entity frames and camera frames in; triggers, candidate events and reasoning counters out.

A thin adapter around merge_ros.reasoning.stage.EventStage (the change detector, guided requests through a
bounded dispatcher, the candidates that follow; see there for the rules). Each EntityArray advances the stage;
camera frames are buffered for the requests and matched by header stamp. Requests go to vlm_node's `reason`
service asynchronously: the callback never waits for an answer, and the answer's events are published as
candidates when it arrives. Without the service, perception's candidates still flow and the failure count grows.
With vlm_node's `none` backend the answers only repeat perception: set use_vlm false to skip the round trip.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from merge_ros import conversions as cv
from merge_ros.events import ChangeDetector, ChangeDetectorConfig
from merge_ros.io.images import ImageError
from merge_ros.msg import EntityArray, ReasoningStatus
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import Trigger as TriggerMsg
from merge_ros.nodes.parameters import Param, declare_all
from merge_ros.reasoning.prompt import PromptConfig, RequestBuilder
from merge_ros.reasoning.stage import EventStage
from merge_ros.srv import Reason
from merge_ros.types import Event, ReasonRequest, Trigger

# Triggers and candidates: none may be lost.
EVENTS_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# Entity frames: every one counts for the detector's debounce (matches perception_node's reliable publisher).
ENTITIES_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# Camera frames: only the newest matters; the node keeps its own short buffer for the prompt.
IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
# Counters are state: a late subscriber gets the latest at once.
STATUS_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
LOG_THROTTLE_S = 5.0

_PROMPT = PromptConfig()
NODE_PARAMETERS: dict[str, Param] = {
    "use_vlm": Param(True, "send triggers worth reasoning to the `reason` service (false: perception only)"),
    "frames": Param(_PROMPT.frames, "camera frames per VLM request (the last N, oldest first)", 1, 16),
    "frame_interval_s": Param(_PROMPT.frame_interval_s, "least time between the frames of a request, so they "
                                                        "span the action rather than a few milliseconds", 0.0, 10.0),
    "max_side": Param(_PROMPT.max_side, "longest side in pixels of the frames sent to the VLM", 64, 4096),
    "crop_max_side": Param(_PROMPT.crop_max_side, "longest side in pixels of object and actor crops", 32, 4096),
    "crop_margin": Param(_PROMPT.crop_margin, "actor crops grow by this fraction of the box on each side (hands, "
                                              "the objects next to them)", 0.0, 2.0),
    "max_objects": Param(_PROMPT.max_objects, "most object instances (reference crops) per request, nearest the "
                                              "actor first", 0, 64),
    "sync_tolerance_s": Param(_PROMPT.sync_tolerance_s, "a camera frame matches an entity frame when their header "
                                                        "stamps differ by at most this", 0.0, 5.0),
    "buffer_frames": Param(_PROMPT.buffer_frames, "camera frames kept for requests (enough to cover frames x "
                                                  "frame_interval_s at the camera rate)", 1, 1000),
    "max_in_flight": Param(2, "most VLM requests outstanding at once", 1, 64),
    "max_queued": Param(4, "most requests waiting (one per actor); beyond, the oldest is dropped", 0, 256),
    "request_timeout_s": Param(150.0, "an outstanding request is given up (counted as a timeout) after this; "
                                      "keep it above vlm_node's deadline", 0.1, 3600.0),
    "scene_dir": Param("", "GROUND-format folder whose object_images/<id>.jpg are the reference crops of the known "
                           "object instances ('' = crops of each object when first seen)"),
    "compressed": Param(False, "subscribe to image/compressed (CompressedImage) instead of image"),
    "status_period_s": Param(1.0, "period of reasoning_status publishing and of giving up late requests",
                             0.05, 60.0),
}


def detector_parameters() -> dict[str, Param]:
    """One parameter per ChangeDetectorConfig field, described by the field's own docstring."""
    docs = ChangeDetectorConfig.field_docs()
    table = {}
    for f in dataclasses.fields(ChangeDetectorConfig):
        default = getattr(ChangeDetectorConfig, f.name)
        low, high = None, None
        if isinstance(default, float):
            low, high = 0.0, (1.0 if f.name.endswith("confidence") else math.inf)
        elif isinstance(default, int) and not isinstance(default, bool):
            low, high = 1, 1000
        table[f.name] = Param(default, docs.get(f.name, f.name), low, high)
    return table


class EventNode(Node):
    def __init__(self, node_name: str = "event_node", **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...)."""
        super().__init__(node_name, **kwargs)
        detector_table = detector_parameters()
        p = declare_all(self, {**detector_table, **NODE_PARAMETERS})
        self.params = p
        prompt_fields = {f.name for f in dataclasses.fields(PromptConfig)}
        builder = RequestBuilder(PromptConfig(**{k: v for k, v in p.items() if k in prompt_fields}))
        if p["scene_dir"]:
            loaded = builder.load_references(p["scene_dir"])
            self.get_logger().info(f"{len(loaded)} object reference images from {p['scene_dir']}")
        self.reason_client = self.create_client(Reason, "reason")
        self.stage = EventStage(
            ChangeDetector(ChangeDetectorConfig(**{k: p[k] for k in detector_table})), builder, self._call_reason,
            on_trigger=self._publish_trigger, on_candidate=self._publish_candidate, use_vlm=p["use_vlm"],
            ready=self.reason_client.service_is_ready, max_in_flight=p["max_in_flight"],
            max_queued=p["max_queued"], timeout_s=p["request_timeout_s"], decode=cv.reason_result_from_msg,
            on_problem=lambda text: self.get_logger().warning(text, throttle_duration_sec=LOG_THROTTLE_S))
        self._bad_raw_images = 0
        self.bad_frames = 0

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
    rclpy.init(args=args)
    node = None
    try:
        node = EventNode()
        rclpy.spin(node)
    except (ValueError, InvalidParameterValueException) as exc:
        rclpy.logging.get_logger("event_node").fatal(f"bad parameter: {exc}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
