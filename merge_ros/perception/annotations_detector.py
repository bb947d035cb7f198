"""The `annotations` detector backend: per-frame boxes, keypoints and IDs read from an annotations.jsonl file.

It replaces the network, not the graph: frames still arrive as images, are matched to an annotated line by
their stamp, and everything after detection (tracking IDs, identity, events, reasoning) runs as usual, so the
rest of the graph can be evaluated independently of detector accuracy. Options pass the true ID as a hint to
identity, or scramble the raw track IDs (a new one after every gap) as a weak tracker would, for the
ID-switch figure.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from merge_ros.io.annotations import AnnotatedFrame, read_annotations
from merge_ros.params import ParameterError, check_fields, param
from merge_ros.perception.detection import Detection
from merge_ros.types import seconds_to_ns


@dataclass
class AnnotationsConfig:
    """The detector's settings; the param() fields are parameters of perception_node."""

    annotations_file: str = param("", "annotations.jsonl for the annotations detector ('' = the one in scene_dir)")
    annotations_tolerance: float = param(
        0.01, "seconds between a frame's stamp and an annotated line's within which they match", 0.0, 10.0)
    scramble_track_ids: bool = param(False, "annotations detector: a new raw track ID after every gap (a weak "
                                            "tracker, for the ID-switch figure)")
    # Pass each annotation's true ID as Detection.hint_id (perception_node: identity.use_hint_ids).
    hint_ids: bool = False

    def __post_init__(self) -> None:
        check_fields(self)


class AnnotationsDetector:
    """Detector (merge_ros.perception.detection) that reads its detections from an annotations file."""

    def __init__(self, config: AnnotationsConfig):
        self.config = config
        path = Path(config.annotations_file).expanduser()
        if not config.annotations_file:
            raise ParameterError("annotations_file", "is empty; give an annotations.jsonl (or a scene_dir with one)")
        if not path.is_file():
            raise ParameterError("annotations_file", f"annotations file {config.annotations_file!r} does not exist")
        try:
            frames = sorted(read_annotations(path), key=lambda f: f.stamp_ns)
        except (OSError, ValueError) as exc:
            raise ParameterError("annotations_file", str(exc)) from exc
        if not frames:
            raise ParameterError("annotations_file", f"{path} holds no annotated frame")
        self._frames = frames
        self._stamps = np.array([f.stamp_ns for f in frames], dtype=np.int64)
        self._tolerance_ns = seconds_to_ns(config.annotations_tolerance)
        self._track_ids = _scrambled_track_ids(frames) if config.scramble_track_ids else [
            [e.track_id for e in f.entities] for f in frames]
        self.unmatched = 0

    def __len__(self) -> int:
        return len(self._frames)

    def index_at(self, stamp_ns: int) -> int | None:
        """Index of the annotated line nearest to stamp_ns, or None if none is within the tolerance."""
        i = int(np.searchsorted(self._stamps, stamp_ns))
        best = min((j for j in (i - 1, i) if 0 <= j < len(self._stamps)),
                   key=lambda j: abs(int(self._stamps[j]) - stamp_ns))
        return best if abs(int(self._stamps[best]) - stamp_ns) <= self._tolerance_ns else None

    def detect(self, frame: np.ndarray, stamp_ns: int) -> list[Detection]:
        """The annotated detections of the frame at stamp_ns (the pixels are not looked at); none if unmatched."""
        i = self.index_at(stamp_ns)
        if i is None:
            self.unmatched += 1
            return []
        hint = self.config.hint_ids
        return [Detection(kind=e.kind, label=e.label, box=e.box, confidence=e.confidence,
                          keypoints=list(e.keypoints), track_id=track_id, hint_id=e.id if hint else "")
                for e, track_id in zip(self._frames[i].entities, self._track_ids[i], strict=True)]


def _scrambled_track_ids(frames: list[AnnotatedFrame]) -> list[list[int]]:
    """Raw track IDs that change after every gap: an instance missing from one line returns with a new ID."""
    next_id = 1
    current: dict[str, int] = {}
    out = []
    for frame in frames:
        seen = {}
        for e in frame.entities:
            if e.id not in current:
                current[e.id] = next_id
                next_id += 1
            seen[e.id] = current[e.id]
        current = seen  # whoever is absent now starts afresh when it returns
        out.append([seen[e.id] for e in frame.entities])
    return out
