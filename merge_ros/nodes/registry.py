"""The registered instances of a recording, as `merge-ros import-ground` writes them into a bag: one
CompressedImage per known object, person or robot on registry/objects, registry/persons and registry/robots,
header.frame_id = the instance ID. Latched (TRANSIENT_LOCAL), so a node started after the replay still gets them.
perception_node registers them in its identity gallery, event_node uses the objects as reference crops.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage

from merge_ros import conversions as cv
from merge_ros.io.images import ImageError
from merge_ros.types import EntityKind

REGISTRY_TOPICS: dict[str, EntityKind] = {
    "registry/objects": EntityKind.OBJECT,
    "registry/persons": EntityKind.PERSON,
    "registry/robots": EntityKind.ROBOT,
}
REGISTRY_QOS = QoSProfile(depth=1000, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)


def subscribe_registry(node: Node, on_instance: Callable[[EntityKind, str, np.ndarray], None],
                       kinds: tuple[EntityKind, ...] = tuple(REGISTRY_TOPICS.values())) -> None:
    """Call on_instance(kind, id, bgr image) for each registered instance; undecodable ones are logged, skipped."""
    def receive(kind: EntityKind, msg: CompressedImage) -> None:
        try:
            image = cv.image_msg_to_bgr8(msg)
        except ImageError as exc:
            node.get_logger().warning(f"registry: skipping {msg.header.frame_id!r}: {exc}")
            return
        if not msg.header.frame_id:
            node.get_logger().warning("registry: skipping an instance without an ID (header.frame_id)")
            return
        on_instance(kind, msg.header.frame_id, image)

    for topic, kind in REGISTRY_TOPICS.items():
        if kind in kinds:
            node.create_subscription(CompressedImage, topic, lambda m, k=kind: receive(k, m), REGISTRY_QOS)
