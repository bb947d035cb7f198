"""The perception core: one frame in, one EntityFrame out (detect and track, then persistent identity).

The same object runs inside perception_node and in the offline runner, so both give the same entities for
the same frames. It keeps per-stage times so that the node and the benchmark can report where time goes.

With an aligned depth frame and its camera model, entities and their keypoints also get 3-D positions
(merge_ros.perception.depth); without them the output is exactly what it is without depth support.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from merge_ros.perception.depth import CameraModel, DepthFrame, DepthLocator, check_aligned
from merge_ros.perception.detection import Detection, Detector
from merge_ros.types import Entity, EntityFrame


class IdentityAssigner(Protocol):
    """Turns a frame's detections into entities with persistent IDs (merge_ros.perception.identity)."""

    def assign(self, frame: np.ndarray, detections: list[Detection], stamp_ns: int) -> list[Entity]:
        ...


@dataclass
class PipelineStats:
    frames: int = 0
    detections: int = 0
    detect_s: float = 0.0
    identity_s: float = 0.0
    depth_frames: int = 0
    depth_s: float = 0.0

    def mean_ms(self) -> dict[str, float]:
        """Mean per-frame figures; depth_ms (per frame that had depth) only once a frame had depth."""
        n = max(1, self.frames)
        out = {"detect_ms": 1000.0 * self.detect_s / n, "identity_ms": 1000.0 * self.identity_s / n,
               "detections_per_frame": self.detections / n}
        if self.depth_frames:
            out["depth_ms"] = 1000.0 * self.depth_s / self.depth_frames
        return out


class PerceptionPipeline:
    def __init__(self, detector: Detector, identity: IdentityAssigner, frame_id: str = "",
                 locator: DepthLocator | None = None):
        """frame_id, when set, replaces the frame_id of every processed frame (a camera with a wrong one);
        locator reads positions from depth (default settings when None)."""
        self.detector = detector
        self.identity = identity
        self.frame_id = frame_id
        self.locator = locator or DepthLocator()
        self.stats = PipelineStats()

    def process(self, frame_bgr: np.ndarray, stamp_ns: int, frame_id: str = "", depth: DepthFrame | None = None,
                camera: CameraModel | None = None) -> EntityFrame:
        """Detect, track and identify in one 8-bit BGR frame; given depth (the depth image aligned to this frame:
        registered to the colour camera, taken at the same time) and camera (that camera's model), also locate
        each entity in 3-D. Depth or a camera of another size than the frame raises DepthError."""
        if depth is not None and camera is not None:
            check_aligned(frame_bgr.shape[:2], depth, camera)
        t0 = time.perf_counter()
        detections = self.detector.detect(frame_bgr, stamp_ns)
        t1 = time.perf_counter()
        entities = self.identity.assign(frame_bgr, detections, stamp_ns)
        t2 = time.perf_counter()
        s = self.stats
        s.frames += 1
        s.detections += len(detections)
        s.detect_s += t1 - t0
        s.identity_s += t2 - t1
        if depth is not None and camera is not None:
            entities = self.locator.locate(entities, depth, camera)
            s.depth_frames += 1
            s.depth_s += time.perf_counter() - t2
        return EntityFrame(stamp_ns, self.frame_id or frame_id, entities)
