"""What a detector backend hands to the identity layer, and the interface every backend implements."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from merge_ros.types import Box, EntityKind, Keypoint


@dataclass
class Detection:
    """One detected instance in one frame, before persistent identity is assigned.

    track_id is the backend tracker's short-lived ID (-1 if none); hint_id is an ID the source already knows
    (e.g. an annotation's instance ID) that identity may use, or "".
    """

    kind: EntityKind
    label: str
    box: Box
    confidence: float = 1.0
    keypoints: list[Keypoint] = field(default_factory=list)
    track_id: int = -1
    hint_id: str = ""


class Detector(Protocol):
    """A detector backend: one call per frame, with tracking state kept inside."""

    def detect(self, frame: np.ndarray, stamp_ns: int) -> list[Detection]:
        """Detect (and track) in one BGR frame."""
        ...
