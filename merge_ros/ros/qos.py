"""The QoS profiles of the graph, the log throttle and the camera subscription: one definition, every node.

Chosen per kind of data:
- camera frames: only the newest matters (depth 1, best effort), so nothing queues stale frames; a replay that
  must lose none asks for a reliable, deeper queue instead (perception_node's frame_queue / reliable_images);
- the stream between the nodes (entity frames, triggers, candidates, stage steps, confirmed events): reliable,
  and deep enough for a consumer to fall behind by tens of seconds without a loss;
- state (the scene, the reasoning counters, registered instances): reliable and TRANSIENT_LOCAL, so a late
  subscriber (rviz, a planner started later) gets the latest at once;
- display (markers, the debug image): the latest only, reliable, which best-effort subscribers match too;
- the robot stack's own interfaces (perception_node's merge_ros.ros.standard_outputs): what their usual subscribers
  ask for. /tf as tf2_ros' broadcaster offers it (reliable, 100 deep); vision_msgs detections and the REP-155
  streams as rclcpp's default (reliable, 10 deep); REP-155's latched topics (a person's body_id) as the state;
- a camera's CameraInfo: best effort, the newest only (every frame repeats it);
- a camera of one's own (merge-ros run --video): the newest frame only, reliable, so that best-effort and reliable
  (reliable_images) subscriptions both match it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from merge_ros.topics import CameraInput

LOG_THROTTLE_S = 5.0  # seconds between repeats of a warning about the same kind of bad input
STREAM_DEPTH = 1000

IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                       durability=DurabilityPolicy.VOLATILE)
STREAM_QOS = QoSProfile(depth=STREAM_DEPTH, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
STATE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
REGISTRY_QOS = QoSProfile(depth=1000, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
DISPLAY_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
TF_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
STANDARD_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
LATCHED_QOS = STATE_QOS
CAMERA_INFO_QOS = IMAGE_QOS
VIDEO_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.VOLATILE)


def image_qos(depth: int = 1, reliable: bool = False) -> QoSProfile:
    """IMAGE_QOS, keeping `depth` frames (and reliable, for a replay that must lose none)."""
    return QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def subscribe_camera(node: Node, camera: CameraInput, callback: Callable[[Image | CompressedImage], None],
                     qos: QoSProfile = IMAGE_QOS) -> Any:
    """Subscribe to the camera topic the node's `compressed` parameter names, with the message type it has."""
    return node.create_subscription(CompressedImage if camera.compressed else Image, camera.topic, callback, qos)
