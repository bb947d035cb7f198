"""perception_node: camera frames in, EntityArray (persons, robots, objects with persistent IDs) out.

A thin adapter around merge_ros.perception.pipeline. The image callback only stores the newest message; one
worker thread decodes and processes whatever is newest when it is free, so no stale frame is ever queued
(overwritten frames are counted as skipped). For replays that must match the offline path frame for frame,
frame_queue > 1 keeps that many frames waiting instead (in order, the oldest dropped and counted beyond it).
Bad frames (ImageError) and pipeline failures are counted and logged (throttled), never fatal.

With use_depth, an aligned depth camera (depth_registered/image_raw: 16UC1 mm or 32FC1 m, registered to the
colour camera, as RealSense's aligned_depth_to_color and ZED's depth_registered are; camera_info: the colour
camera's CameraInfo) gives the entities 3-D positions: each colour frame takes the depth image with its stamp (or
the nearest within depth_tolerance_s), waiting up to depth_wait_s for it, since drivers publish it after the
colour frame. A frame without one, or with an unusable one (another encoding or size, a CameraInfo with an
all-zero K), is processed without depth; both are counted and logged (throttled). Without use_depth there is
neither subscription and everything is as it was.

Beside the EntityArray, the robot stack's own interfaces (merge_ros.ros.standard_outputs): /tf frames of the
located entities, vision_msgs detections and the REP-155 (ROS4HRI) topics of persons and bodies.

A managed (lifecycle) node, see merge_ros.ros.lifecycle: configure builds the detectors and the gallery (a bad
parameter or a missing model fails it, naming the parameter), deactivate stops taking frames (frames that arrive
are counted as ignored, the worker stays idle), activate resumes, cleanup releases the models.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from merge_ros.io.images import ImageError
from merge_ros.msg import EntityArray
from merge_ros.params import config_of
from merge_ros.perception.depth import CameraModel, DepthError, DepthFrame, check_aligned
from merge_ros.perception.embedding import EmbeddingError
from merge_ros.perception.identity import IdentityGallery
from merge_ros.perception.parameters import (
    IDENTITY_PREFIX,
    PERCEPTION_PARAMETERS,
    DepthInputConfig,
    PerceptionNodeConfig,
    StandardOutputsConfig,
    build_pipeline,
)
from merge_ros.perception.pipeline import PerceptionPipeline
from merge_ros.ros import conversions
from merge_ros.ros.entry import run_node
from merge_ros.ros.lifecycle import ManagedNode
from merge_ros.ros.qos import CAMERA_INFO_QOS, LOG_THROTTLE_S, STREAM_QOS, image_qos, subscribe_camera
from merge_ros.ros.registry import subscribe_registry
from merge_ros.ros.standard_outputs import StandardOutputs
from merge_ros.topics import CAMERA_INFO, DEPTH_IMAGE, DIAGNOSTICS, ENTITIES, CameraInput
from merge_ros.types import KIND_NAMES, EntityKind, seconds_to_ns

DEPTH_SLACK = 4  # depth images kept beyond the frame queue: those of frames still on their way
DEPTH_SILENT_S = 1.0  # no depth image for this long (wall time) after one came: the stream stopped, frames do not wait


@dataclass
class FrameCounters:
    received: int = 0
    processed: int = 0
    skipped: int = 0  # overwritten by a newer frame before the worker took it (or dropped by a deactivation)
    bad: int = 0  # not decodable (ImageError)
    failed: int = 0  # the pipeline raised
    ignored: int = 0  # arrived while the node was not active
    depth_frames: int = 0  # processed with depth (use_depth)
    depth_missing: int = 0  # processed without: no depth image within depth_tolerance_s, or no camera_info yet
    depth_bad: int = 0  # processed without: the depth image or the camera_info was unusable


class DepthSync:
    """The depth images and the CameraInfo received, and the match of a colour frame among them.

    The subscriptions' callbacks add; perception's worker takes, for each frame it processes, the depth image
    with that frame's stamp (or the nearest within the tolerance), waiting up to wait_s for it while there is a
    depth stream: a depth publisher (has_source), which has sent an image in the last DEPTH_SILENT_S or none yet.
    Images older than a taken frame are dropped (frames are processed in stamp order), so the buffer holds those
    of the frames still queued and on their way."""

    def __init__(self, keep: int, tolerance_s: float, wait_s: float, has_source: Callable[[], bool]) -> None:
        self._cond = threading.Condition()
        self._depths: deque[tuple[int, Image]] = deque(maxlen=keep)
        self._info: CameraInfo | None = None
        self._last_depth: float | None = None  # monotonic time of the last depth image
        self._has_source = has_source
        self.tolerance_ns = seconds_to_ns(tolerance_s)
        self.wait_s = wait_s

    def add_depth(self, msg: Image) -> None:
        with self._cond:
            self._depths.append((conversions.time_to_ns(msg.header.stamp), msg))
            self._last_depth = time.monotonic()
            self._cond.notify_all()

    def add_info(self, msg: CameraInfo) -> None:
        with self._cond:
            self._info = msg
            self._cond.notify_all()

    def take(self, stamp_ns: int) -> tuple[Image | None, CameraInfo | None]:
        """The depth image of the frame stamped stamp_ns (None: none came in time) and the latest CameraInfo."""
        deadline = time.monotonic() + self.wait_s
        streaming = self._has_source()
        with self._cond:
            while True:
                match = self._nearest(stamp_ns)
                if match is not None and self._info is not None:
                    break
                now = time.monotonic()
                passed = bool(self._depths) and self._depths[-1][0] > stamp_ns + self.tolerance_ns
                silent = not streaming or (self._last_depth is not None and now - self._last_depth > DEPTH_SILENT_S)
                if passed or silent or now >= deadline:
                    break
                self._cond.wait(deadline - now)
            while self._depths and self._depths[0][0] < stamp_ns - self.tolerance_ns:
                self._depths.popleft()
            return match, self._info

    def _nearest(self, stamp_ns: int) -> Image | None:
        best = min(self._depths, key=lambda d: abs(d[0] - stamp_ns), default=None)
        return best[1] if best is not None and abs(best[0] - stamp_ns) <= self.tolerance_ns else None


class PerceptionNode(ManagedNode):
    """A managed node (merge_ros.ros.lifecycle): the detectors and the gallery are built at configure and dropped
    at cleanup; while inactive, frames are ignored and the worker takes none. Registered instances (the registry
    topics) are kept from the start, so every configure's new gallery gets them all."""

    def __init__(self, **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...); with autostart (the default) a
        bad parameter raises ParameterError naming it."""
        super().__init__("perception_node", PERCEPTION_PARAMETERS, **kwargs)
        self.pipeline: PerceptionPipeline | None = None
        self.counters = FrameCounters()
        self.last_error = ""
        self.registered: list[str] = []
        self._instances: dict[str, tuple[EntityKind, np.ndarray]] = {}  # every registered instance received
        self._wake = threading.Condition()
        self._pending: deque[Image | CompressedImage] = deque(maxlen=1)
        self._registrations: deque[tuple[EntityKind, str, np.ndarray]] = deque()
        self._busy = False  # the worker is on a frame or a registration
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._sub = self._pub = self._diag_pub = self._diag_timer = None
        self._depth_sub = self._info_sub = None
        self._depth: DepthSync | None = None
        self._outputs: StandardOutputs | None = None
        subscribe_registry(self, self._on_registered)
        self.autostart()

    # --- lifecycle ---------------------------------------------------------------------------------------------
    load_errors = (EmbeddingError,)

    def configure(self) -> None:
        self.pipeline = build_pipeline(self.params)
        if not self.params[f"{IDENTITY_PREFIX}use_hint_ids"]:
            load_appearance_model(self.pipeline)
        settings = config_of(PerceptionNodeConfig, self.params)
        with self._wake:
            self._pending = deque(maxlen=settings.frame_queue)
            self._registrations = deque((kind, iid, image) for iid, (kind, image) in self._instances.items())
            self.registered = []
            self._stopping = False
        self._sub = subscribe_camera(self, config_of(CameraInput, self.params), self._on_image,
                                     image_qos(settings.frame_queue, settings.reliable_images))
        self._pub = self.create_publisher(EntityArray, ENTITIES, STREAM_QOS)
        depth = config_of(DepthInputConfig, self.params)
        if depth.use_depth:
            self._depth = DepthSync(settings.frame_queue + DEPTH_SLACK, depth.depth_tolerance_s, depth.depth_wait_s,
                                    lambda: self._depth_sub is not None and self._depth_sub.get_publisher_count() > 0)
            self._depth_sub = self.create_subscription(
                Image, DEPTH_IMAGE, self._depth.add_depth,
                image_qos(settings.frame_queue + DEPTH_SLACK, settings.reliable_images))
            self._info_sub = self.create_subscription(CameraInfo, CAMERA_INFO, self._depth.add_info, CAMERA_INFO_QOS)
        self._outputs = StandardOutputs(self, config_of(StandardOutputsConfig, self.params), depth.use_depth,
                                        self._is_registered)
        if settings.diagnostics_period > 0:
            self._diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 1)
            self._diag_last = (time.monotonic(), asdict(self.counters))
            self._diag_timer = self.create_timer(settings.diagnostics_period, self._publish_diagnostics)
        self._worker = threading.Thread(target=self._work, name="perception_worker", daemon=True)
        self._worker.start()
        inputs = [sub.topic_name for sub in (self._sub, self._depth_sub, self._info_sub) if sub is not None]
        outputs = [self._pub.topic_name, *self._outputs.topics]
        self.get_logger().info(f"detector {self.params['detector']} ({self.params['model']}), subscribed to "
                               f"{', '.join(inputs)}, publishing {', '.join(outputs)}")

    def on_active(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def on_inactive(self) -> None:
        """Drop the waiting frames and wait for the one in progress: after this, no frame is processed."""
        with self._wake:
            self.counters.skipped += len(self._pending)
            self._pending.clear()
            self._wake.wait_for(lambda: not self._busy, timeout=30.0)

    def release(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=30.0)  # lets a frame in progress finish before the publisher goes
        self._worker = None
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
        if self._outputs is not None:
            self._outputs.close()
        for pub in (self._pub, self._diag_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        for sub in (self._sub, self._depth_sub, self._info_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        self._sub = self._pub = self._diag_pub = self._diag_timer = self._depth_sub = self._info_sub = None
        self._depth = self._outputs = None
        self.pipeline = None

    # --- work ----------------------------------------------------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        with self._wake:
            if not self.active:
                self.counters.ignored += 1
                return
            self.counters.received += 1
            if len(self._pending) == self._pending.maxlen:
                self.counters.skipped += 1  # the deque drops its oldest
            self._pending.append(msg)
            self._wake.notify()

    def _on_registered(self, kind: EntityKind, instance_id: str, image: np.ndarray) -> None:
        """Kept for every later gallery, and handed to the worker, which owns the gallery: registration never
        races a frame."""
        with self._wake:
            self._instances[instance_id] = (kind, image)
            self._registrations.append((kind, instance_id, image))
            self._wake.notify()

    def _work(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopping or (
                    self.active and bool(self._pending or self._registrations)))
                if self._stopping:
                    return
                registrations = list(self._registrations)
                self._registrations.clear()
                msg = self._pending.popleft() if self._pending else None
                self._busy = True
            try:
                self._register(registrations)
                if msg is not None:
                    self._process_guarded(msg)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _register(self, registrations: list[tuple[EntityKind, str, np.ndarray]]) -> None:
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

    def _process_guarded(self, msg: Image | CompressedImage) -> None:
        """A failing frame (or a shutdown mid-publish) must not end the worker."""
        try:
            self._process(msg)
        except Exception as exc:
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
        stamp_ns = conversions.time_to_ns(msg.header.stamp)
        depth, camera = self._aligned_depth(stamp_ns, frame.shape[:2]) if self._depth is not None else (None, None)
        entities = self.pipeline.process(frame, stamp_ns, msg.header.frame_id, depth, camera)
        self._pub.publish(conversions.entity_frame_to_msg(entities))
        self.counters.processed += 1
        self._outputs.publish(entities, frame.shape[1], frame.shape[0], camera)

    def _aligned_depth(self, stamp_ns: int, size: tuple[int, int]) -> tuple[DepthFrame | None, CameraModel | None]:
        """The frame's depth image and camera model, or (None, None), counted and logged, where it has none or an
        unusable one: the frame is then processed without depth."""
        depth_msg, info = self._depth.take(stamp_ns)
        if depth_msg is None or info is None:
            self.counters.depth_missing += 1
            why = (f"no depth image on {self._depth_sub.topic_name} within depth_tolerance_s" if depth_msg is None
                   else f"no camera_info on {self._info_sub.topic_name} yet")
            self.get_logger().warning(f"frame without depth: {why} ({self.counters.depth_missing} so far)",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return None, None
        try:
            depth, camera = conversions.depth_from_msg(depth_msg), conversions.camera_info_from_msg(info)
            check_aligned(size, depth, camera)
        except DepthError as exc:
            self.counters.depth_bad += 1
            self.last_error = f"bad depth skipped: {exc}"
            self.get_logger().warning(f"{self.last_error}; frame processed without depth ({self.counters.depth_bad} "
                                      f"so far)", throttle_duration_sec=LOG_THROTTLE_S)
            return None, None
        self.counters.depth_frames += 1
        return depth, camera

    def _is_registered(self, instance_id: str) -> bool:
        """Known from a reference image (scene_dir or the registry topics), rather than found by perception."""
        return self.pipeline is not None and self.pipeline.identity.reference_count(instance_id) > 0

    def _publish_diagnostics(self) -> None:
        now, counters = time.monotonic(), asdict(self.counters)
        then, before = self._diag_last
        self._diag_last = (now, counters)
        fps = (counters["processed"] - before["processed"]) / max(1e-9, now - then)
        new_problems = sum(counters[k] - before[k] for k in ("bad", "failed", "depth_bad"))
        values = {**counters, "active": str(self.active), "fps": f"{fps:.2f}",
                  **{k: f"{v:.2f}" for k, v in self.pipeline.stats.mean_ms().items()}}
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if new_problems else DiagnosticStatus.OK, name=self.get_fully_qualified_name(),
            message=self.last_error if new_problems else "ok", hardware_id=str(self.params["device"]),
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        self._diag_pub.publish(DiagnosticArray(header=conversions.header(self.get_clock().now().nanoseconds, ""),
                                               status=[status]))


def load_appearance_model(pipeline: PerceptionPipeline) -> None:
    """The gallery builds its appearance model on first use; at configure, so that the first frame with a person
    does not wait seconds for torch (nor a deactivated node hold no model)."""
    if isinstance(pipeline.identity, IdentityGallery):
        pipeline.identity.embedder.dim  # noqa: B018 - the access loads it


def main(args: list[str] | None = None) -> int:
    return run_node("perception_node", PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
