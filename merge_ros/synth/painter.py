"""Drawing that remembers who drew each pixel, so that annotations come from the rendered image itself.

Every silhouette primitive is drawn three times: anti-aliased into the colour image, into an ID buffer (last
writer wins, so it holds what the camera sees) and into the entity's own mask (everything it would cover if
nothing were in front). Visible over full pixel counts give occlusion, the ID buffer gives visible boxes.
Shading primitives (highlights, texture) touch the colour image only.

With depth on, each silhouette primitive is also drawn into a surface buffer with the index of the 3-D surface
set last with `on()` (merge_ros.synth.depth), so that the depth image is ray-cast against exactly what each pixel
shows; the colour image and the ID buffer are drawn the same either way.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from merge_ros.synth.depth import Surface

_SHIFT = 4
_SCALE = 1 << _SHIFT
Color = tuple[int, int, int]


def shade(color: Color, factor: float) -> Color:
    return tuple(int(min(255, max(0, c * factor))) for c in color)  # type: ignore[return-value]


def mix(a: Color, b: Color, t: float) -> Color:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, dtype=float) * _SCALE).astype(np.int32).reshape(-1, 1, 2)


@dataclass
class Visibility:
    full_px: int            # pixels the entity covers inside the frame when nothing is in front of it
    visible_px: int         # pixels of it the camera sees
    box: tuple[float, float, float, float] | None   # visible pixels' box, None if none
    extent: tuple[float, float, float, float]       # box of everything drawn for it, before clipping to the frame

    @property
    def visible_fraction(self) -> float:
        return self.visible_px / self.full_px if self.full_px else 0.0

    def in_frame_fraction(self, width: int, height: int) -> float:
        """Share of its unclipped extent inside the frame: a person walking out of view leaves it, not occlusion."""
        x0, y0, x1, y1 = self.extent
        area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
        inside = max(min(x1, width) - max(x0, 0.0), 0.0) * max(min(y1, height) - max(y0, 0.0), 0.0)
        return inside / area if area > 0 else 0.0


class Painter:
    def __init__(self, background: np.ndarray, depth: bool = False) -> None:
        self.img = background.copy()
        h, w = self.img.shape[:2]
        self.ids = np.zeros((h, w), np.uint8)
        self._masks: dict[int, np.ndarray] = {}
        self._extent: dict[int, list[float]] = {}
        self.surfaces: list[Surface] = []
        self.surface_ids = np.zeros((h, w), np.uint16) if depth else None
        self._surface = 0

    def on(self, surface: Surface) -> None:
        """The 3-D surface that the next silhouette primitives draw (for the depth image)."""
        if self.surface_ids is None:
            return
        if len(self.surfaces) >= np.iinfo(np.uint16).max:
            raise ValueError("too many surfaces in one frame for the depth image")
        self.surfaces.append(surface)
        self._surface = len(self.surfaces)

    def cover(self, mask: np.ndarray) -> None:
        """Something static is drawn over the masked pixels (the table over the persons): no entity shows there."""
        self.ids[mask > 0] = 0
        if self.surface_ids is not None:
            self.surface_ids[mask > 0] = 0

    def _surface_buffer(self) -> np.ndarray | None:
        if self.surface_ids is not None and not self._surface:
            raise RuntimeError("a silhouette primitive was drawn before any surface was set")
        return self.surface_ids

    @property
    def size(self) -> tuple[int, int]:
        return self.img.shape[1], self.img.shape[0]

    def _touch(self, eid: int, pts: np.ndarray, pad: float = 0.0) -> np.ndarray:
        if eid not in self._masks:
            self._masks[eid] = np.zeros(self.ids.shape, np.uint8)
            self._extent[eid] = [np.inf, np.inf, -np.inf, -np.inf]
        p = np.asarray(pts, dtype=float).reshape(-1, 2)
        ext = self._extent[eid]
        ext[0] = min(ext[0], p[:, 0].min() - pad)
        ext[1] = min(ext[1], p[:, 1].min() - pad)
        ext[2] = max(ext[2], p[:, 0].max() + pad)
        ext[3] = max(ext[3], p[:, 1].max() + pad)
        return self._masks[eid]

    def poly(self, pts: np.ndarray, color: Color, eid: int = 0) -> None:
        if len(pts) < 3:
            return
        fixed = _fixed(pts)
        cv2.fillPoly(self.img, [fixed], color, cv2.LINE_AA, _SHIFT)
        if eid:
            cv2.fillPoly(self.ids, [fixed], eid, cv2.LINE_8, _SHIFT)
            cv2.fillPoly(self._touch(eid, pts), [fixed], 255, cv2.LINE_8, _SHIFT)
            if (buf := self._surface_buffer()) is not None:
                cv2.fillPoly(buf, [fixed], self._surface, cv2.LINE_8, _SHIFT)

    def circle(self, center: np.ndarray, radius: float, color: Color, eid: int = 0) -> None:
        c = tuple(int(round(v * _SCALE)) for v in np.asarray(center, float).ravel()[:2])
        r = max(int(round(radius * _SCALE)), 1)
        cv2.circle(self.img, c, r, color, -1, cv2.LINE_AA, _SHIFT)
        if eid:
            cv2.circle(self.ids, c, r, eid, -1, cv2.LINE_8, _SHIFT)
            cv2.circle(self._touch(eid, np.asarray(center).reshape(1, 2), radius), c, r, 255, -1, cv2.LINE_8, _SHIFT)
            if (buf := self._surface_buffer()) is not None:
                cv2.circle(buf, c, r, self._surface, -1, cv2.LINE_8, _SHIFT)

    def ellipse(self, center: np.ndarray, axes: tuple[float, float], angle: float, color: Color, eid: int = 0) -> None:
        c = tuple(int(round(v * _SCALE)) for v in np.asarray(center, float).ravel()[:2])
        ax = (max(int(round(axes[0] * _SCALE)), 1), max(int(round(axes[1] * _SCALE)), 1))
        cv2.ellipse(self.img, c, ax, angle, 0, 360, color, -1, cv2.LINE_AA, _SHIFT)
        if eid:
            cv2.ellipse(self.ids, c, ax, angle, 0, 360, eid, -1, cv2.LINE_8, _SHIFT)
            mask = self._touch(eid, np.asarray(center).reshape(1, 2), max(axes))
            cv2.ellipse(mask, c, ax, angle, 0, 360, 255, -1, cv2.LINE_8, _SHIFT)
            if (buf := self._surface_buffer()) is not None:
                cv2.ellipse(buf, c, ax, angle, 0, 360, self._surface, -1, cv2.LINE_8, _SHIFT)

    def line(self, pts: np.ndarray, color: Color, thickness: float, eid: int = 0) -> None:
        fixed = _fixed(pts)
        t = max(int(round(thickness)), 1)
        cv2.polylines(self.img, [fixed], False, color, t, cv2.LINE_AA, _SHIFT)
        if eid:
            cv2.polylines(self.ids, [fixed], False, eid, t, cv2.LINE_8, _SHIFT)
            cv2.polylines(self._touch(eid, pts, thickness / 2), [fixed], False, 255, t, cv2.LINE_8, _SHIFT)
            if (buf := self._surface_buffer()) is not None:
                cv2.polylines(buf, [fixed], False, self._surface, t, cv2.LINE_8, _SHIFT)

    def visibility(self, eid: int) -> Visibility | None:
        """What the camera sees of an entity; None if it drew nothing."""
        if eid not in self._masks:
            return None
        w, h = self.size
        ext = tuple(float(v) for v in self._extent[eid])
        x0, y0 = max(int(np.floor(ext[0])) - 1, 0), max(int(np.floor(ext[1])) - 1, 0)
        x1, y1 = min(int(np.ceil(ext[2])) + 2, w), min(int(np.ceil(ext[3])) + 2, h)
        if x1 <= x0 or y1 <= y0:
            return Visibility(0, 0, None, ext)
        full = int(cv2.countNonZero(self._masks[eid][y0:y1, x0:x1]))
        seen = (self.ids[y0:y1, x0:x1] == eid)
        visible = int(seen.sum())
        box = None
        if visible:
            ys, xs = np.nonzero(seen)
            box = (float(xs.min() + x0), float(ys.min() + y0), float(xs.max() + x0 + 1), float(ys.max() + y0 + 1))
        return Visibility(full, visible, box, ext)
