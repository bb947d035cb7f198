"""The perception core: one frame in, one EntityFrame out (detect and track, then persistent identity).

The same object runs inside perception_node and in the offline runner, so both give the same entities for
the same frames. It keeps per-stage times so that the node and the benchmark can report where time goes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

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

    def mean_ms(self) -> dict[str, float]:
        n = max(1, self.frames)
        return {"detect_ms": 1000.0 * self.detect_s / n, "identity_ms": 1000.0 * self.identity_s / n,
                "detections_per_frame": self.detections / n}


class PerceptionPipeline:
    def __init__(self, detector: Detector, identity: IdentityAssigner, frame_id: str = ""):
        """frame_id, when set, replaces the frame_id of every processed frame (a camera with a wrong one)."""
        self.detector = detector
        self.identity = identity
        self.frame_id = frame_id
        self.stats = PipelineStats()

    def process(self, frame_bgr: np.ndarray, stamp_ns: int, frame_id: str = "") -> EntityFrame:
        """Detect, track and identify in one 8-bit BGR frame."""
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
        return EntityFrame(stamp_ns, self.frame_id or frame_id, entities)
