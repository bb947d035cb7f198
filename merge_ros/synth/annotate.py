"""Per-frame annotations as a detector with a tracker would report them, from what the renderer drew.

Visibility comes from the rendered pixels (an object mostly covered by an arm is not detected; a person mostly
outside the frame is not either). On top: random misses, box and keypoint jitter, and a tracker's short-lived
track IDs, which survive a gap of at most `track_max_gap` frames and are new after any longer absence.
"""
from __future__ import annotations

import numpy as np

from merge_ros.io.annotations import AnnotatedFrame
from merge_ros.synth.realism import Realism
from merge_ros.synth.render import Rendered
from merge_ros.synth.timeline import PERSON, World
from merge_ros.types import Box, Entity, EntityKind, Keypoint


class Annotator:
    def __init__(self, world: World, realism: Realism, rng: np.random.Generator, width: int, height: int) -> None:
        self.world, self.realism, self.rng = world, realism, rng
        self.width, self.height = width, height
        self._next_track = 1
        self._track: dict[str, int] = {}
        self._last_seen: dict[str, int] = {}

    def _kind(self, eid: str) -> EntityKind:
        if eid in self.world.objects:
            return EntityKind.OBJECT
        return EntityKind.PERSON if self.world.actors[eid].kind == PERSON else EntityKind.ROBOT

    def _label(self, eid: str) -> str:
        if eid in self.world.objects:
            return self.world.objects[eid].label
        return self.world.actors[eid].kind

    def visible(self, eid: str, rendered: Rendered) -> bool:
        """Whether a perfect detector would see it: enough of it unoccluded, enough of it inside the frame."""
        vis = rendered.visibility.get(eid)
        if vis is None or vis.box is None:
            return False
        if eid in self.world.objects:
            return vis.visible_fraction >= self.realism.min_visible
        return vis.in_frame_fraction(self.width, self.height) >= self.realism.min_in_frame

    def frame(self, index: int, stamp: float, image: str, rendered: Rendered) -> AnnotatedFrame:
        r = self.realism
        entities = []
        for eid in list(self.world.actors) + list(self.world.objects):
            if not self.visible(eid, rendered):
                continue
            missed = self.rng.random() < r.miss_rate
            noise = self.rng.normal(0.0, 1.0, 4)
            if missed:
                continue
            last = self._last_seen.get(eid)
            if last is None or index - last - 1 > r.track_max_gap:
                self._track[eid] = self._next_track
                self._next_track += 1
            self._last_seen[eid] = index
            vis = rendered.visibility[eid]
            entities.append(Entity(eid, self._kind(eid), self._label(eid), self._box(vis.box, noise),
                                   round(self._confidence(vis.visible_fraction), 3),
                                   self._keypoints(rendered.keypoints.get(eid, {})), track_id=self._track[eid]))
        return AnnotatedFrame(stamp, image, entities)

    def _box(self, box: tuple[float, float, float, float], noise: np.ndarray) -> Box:
        x0, y0, x1, y1 = np.asarray(box) + noise * self.realism.box_jitter_px
        x0, x1 = np.clip([x0, x1], 0, self.width)
        y0, y1 = np.clip([y0, y1], 0, self.height)
        return Box(float(x0), float(y0), float(max(x1, x0 + 1.0)), float(max(y1, y0 + 1.0)))

    def _confidence(self, visible_fraction: float) -> float:
        return min(max(0.55 + 0.4 * visible_fraction + float(self.rng.normal(0.0, 0.03)), 0.3), 0.99)

    def _keypoints(self, points: dict[str, tuple[float, float]]) -> list[Keypoint]:
        out = []
        for name, (x, y) in sorted(points.items()):
            jx, jy = self.rng.normal(0.0, self.realism.keypoint_jitter_px, 2)
            inside = 0 <= x < self.width and 0 <= y < self.height
            score = min(max(0.9 + float(self.rng.normal(0.0, 0.04)), 0.5), 0.99) if inside else 0.0
            out.append(Keypoint(name, float(x + jx), float(y + jy), round(score, 3)))
        return out
