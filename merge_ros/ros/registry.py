"""The registered instances of a recording, as `merge-ros import-ground` writes them into a bag: one
CompressedImage per known object, person or robot on registry/objects, registry/persons and registry/robots,
header.frame_id = the instance ID. Latched (TRANSIENT_LOCAL), so a node started after the replay still gets them.
perception_node registers them in its identity gallery, event_node uses the objects as reference crops.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage

from merge_ros.io.images import ImageError
from merge_ros.ros import conversions
from merge_ros.ros.qos import REGISTRY_QOS
from merge_ros.topics import REGISTRY_TOPICS
from merge_ros.types import EntityKind


def subscribe_registry(node: Node, on_instance: Callable[[EntityKind, str, np.ndarray], None],
                       kinds: tuple[EntityKind, ...] = tuple(REGISTRY_TOPICS)) -> None:
    """Call on_instance(kind, id, bgr image) for each registered instance; undecodable ones are logged, skipped."""
    def receive(kind: EntityKind, msg: CompressedImage) -> None:
        try:
            image = conversions.image_msg_to_bgr8(msg)
        except ImageError as exc:
            node.get_logger().warning(f"registry: skipping {msg.header.frame_id!r}: {exc}")
            return
        if not msg.header.frame_id:
            node.get_logger().warning("registry: skipping an instance without an ID (header.frame_id)")
            return
        on_instance(kind, msg.header.frame_id, image)

    for kind in kinds:
        node.create_subscription(CompressedImage, REGISTRY_TOPICS[kind], lambda m, k=kind: receive(k, m),
                                 REGISTRY_QOS)
