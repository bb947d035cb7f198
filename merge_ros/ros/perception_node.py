"""perception_node: camera frames in, EntityArray (persons, robots, objects with persistent IDs) out.

A thin adapter around merge_ros.perception.pipeline. The image callback only stores the newest message; one
worker thread decodes and processes whatever is newest when it is free, so no stale frame is ever queued
(overwritten frames are counted as skipped). For replays that must match the offline path frame for frame,
frame_queue > 1 keeps that many frames waiting instead (in order, the oldest dropped and counted beyond it).
Bad frames (ImageError) and pipeline failures are counted and logged (throttled), never fatal.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from merge_ros.io.images import ImageError
from merge_ros.msg import EntityArray
from merge_ros.params import config_of
from merge_ros.perception.parameters import PERCEPTION_PARAMETERS, PerceptionNodeConfig, build_pipeline
from merge_ros.ros import conversions
from merge_ros.ros.entry import run_node
from merge_ros.ros.parameters import declare_all
from merge_ros.ros.qos import LOG_THROTTLE_S, STREAM_QOS, image_qos, subscribe_camera
from merge_ros.ros.registry import subscribe_registry
from merge_ros.topics import DIAGNOSTICS, ENTITIES, CameraInput
from merge_ros.types import KIND_NAMES, EntityKind


@dataclass
class FrameCounters:
    received: int = 0
    processed: int = 0
    skipped: int = 0  # overwritten by a newer frame before the worker took it
    bad: int = 0  # not decodable (ImageError)
    failed: int = 0  # the pipeline raised


class PerceptionNode(Node):
    def __init__(self, **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...); a bad parameter raises
        ParameterError naming it."""
        super().__init__("perception_node", **kwargs)
        self.params = declare_all(self, PERCEPTION_PARAMETERS)
        self.pipeline = build_pipeline(self.params)
        self.add_on_set_parameters_callback(self._refuse_changes)
        self.counters = FrameCounters()
        self.last_error = ""
        settings = config_of(PerceptionNodeConfig, self.params)
        self._pending: deque[Image | CompressedImage] = deque(maxlen=settings.frame_queue)
        self._registrations: deque[tuple[EntityKind, str, np.ndarray]] = deque()
        self.registered: list[str] = []
        self._sub = subscribe_camera(self, config_of(CameraInput, self.params), self._on_image,
                                     image_qos(settings.frame_queue, settings.reliable_images))
        self._pub = self.create_publisher(EntityArray, ENTITIES, STREAM_QOS)
        subscribe_registry(self, self._on_registered)
        self._diag_pub = None
        if settings.diagnostics_period > 0:
            self._diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 1)
            self._diag_last = (time.monotonic(), asdict(self.counters))
            self.create_timer(settings.diagnostics_period, self._publish_diagnostics)
        self._wake = threading.Condition()
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="perception_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"detector {self.params['detector']} ({self.params['model']}), subscribed to "
                               f"{self._sub.topic_name}, publishing {self._pub.topic_name}")

    def _refuse_changes(self, params: list[Parameter]) -> SetParametersResult:
        """The models and the gallery are built from the parameters at start; a later change would not apply."""
        changed = [p.name for p in params if p.name in self.params]
        return SetParametersResult(successful=not changed,
                                   reason=f"{', '.join(changed)}: read at start only; restart perception_node")

    def _on_image(self, msg: Image | CompressedImage) -> None:
        with self._wake:
            self.counters.received += 1
            if len(self._pending) == self._pending.maxlen:
                self.counters.skipped += 1  # the deque drops its oldest
            self._pending.append(msg)
            self._wake.notify()

    def _on_registered(self, kind: EntityKind, instance_id: str, image: np.ndarray) -> None:
        """Handed to the worker, which owns the gallery: registration never races a frame."""
        with self._wake:
            self._registrations.append((kind, instance_id, image))
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending or self._registrations or self._stopping)
                if self._stopping:
                    return
                registrations = list(self._registrations)
                self._registrations.clear()
                msg = self._pending.popleft() if self._pending else None
            for kind, instance_id, image in registrations:
                if self.pipeline.identity.reference_count(instance_id):
                    continue  # registered already (from scene_dir, or a replay played twice): no embedding work
                try:
                    self.pipeline.identity.register(instance_id, kind, KIND_NAMES[kind], image)
                except ValueError as exc:  # an empty image, an ID registered before as another kind
                    self.get_logger().warning(f"registry: skipping {instance_id}: {exc}")
                    continue
                self.registered.append(instance_id)
                self.get_logger().info(f"registered {KIND_NAMES[kind]} {instance_id} from the registry topic")
            if msg is None:
                continue
            try:
                self._process(msg)
            except Exception as exc:  # a failing frame (or a shutdown mid-publish) must not end the worker
                if not self.context.ok():
                    return
                self.counters.failed += 1
                self.last_error = f"processing failed: {type(exc).__name__}: {exc}"
                self.get_logger().error(f"{self.last_error} ({self.counters.failed} so far)",
                                        throttle_duration_sec=LOG_THROTTLE_S)

    def _process(self, msg: Image | CompressedImage) -> None:
        try:
            frame = conversions.image_msg_to_bgr8(msg)
        except ImageError as exc:
            self.counters.bad += 1
            self.last_error = f"bad frame skipped: {exc}"
            self.get_logger().warning(f"{self.last_error} ({self.counters.bad} so far)",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return
        entities = self.pipeline.process(frame, conversions.time_to_ns(msg.header.stamp), msg.header.frame_id)
        self._pub.publish(conversions.entity_frame_to_msg(entities))
        self.counters.processed += 1

    def _publish_diagnostics(self) -> None:
        now, counters = time.monotonic(), asdict(self.counters)
        then, before = self._diag_last
        self._diag_last = (now, counters)
        fps = (counters["processed"] - before["processed"]) / max(1e-9, now - then)
        new_problems = counters["bad"] + counters["failed"] - before["bad"] - before["failed"]
        values = {**counters, "fps": f"{fps:.2f}", **{k: f"{v:.2f}" for k, v in self.pipeline.stats.mean_ms().items()}}
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if new_problems else DiagnosticStatus.OK, name=self.get_fully_qualified_name(),
            message=self.last_error if new_problems else "ok", hardware_id=str(self.params["device"]),
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        self._diag_pub.publish(DiagnosticArray(header=conversions.header(self.get_clock().now().nanoseconds, ""),
                                               status=[status]))

    def destroy_node(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._worker.join(timeout=30.0)  # lets a frame in progress finish before the publisher goes
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node("perception_node", PerceptionNode, args)
