"""Short time windows of boxes and points, for motion measures that tolerate jitter and partial occlusion."""
from __future__ import annotations

import math
from collections import deque

from merge_ros.types import Box


def _coherent(a: float, b: float) -> float:
    """The shift two opposite box edges share: the smaller one if both moved the same way, else none.

    A box that really moves shifts both edges alike; a hand covering part of an object moves one edge only (the
    box shrinks), and the centre would report that as motion."""
    if a * b <= 0.0:
        return 0.0
    return math.copysign(min(abs(a), abs(b)), a)


class Window:
    """(stamp_ns, value) samples spanning at least `window_ns` (the oldest kept is the last one older than that)."""

    def __init__(self, window_ns: int):
        self.window_ns = window_ns
        self.samples: deque = deque()

    def add(self, stamp_ns: int, value) -> None:
        self.samples.append((stamp_ns, value))
        while len(self.samples) > 2 and stamp_ns - self.samples[1][0] >= self.window_ns:
            self.samples.popleft()

    def clear(self) -> None:
        self.samples.clear()

    def span(self):
        """((t0, oldest), (t1, newest)), or None with fewer than two samples."""
        if len(self.samples) < 2:
            return None
        return self.samples[0], self.samples[-1]


def box_speed(window: Window, scale: float) -> float | None:
    """Coherent translation of a box over the window, in `scale` units per second (None: not enough samples)."""
    span = window.span()
    if span is None:
        return None
    (t0, b0), (t1, b1) = span
    b0: Box
    b1: Box
    dx = _coherent(b1.x_min - b0.x_min, b1.x_max - b0.x_max)
    dy = _coherent(b1.y_min - b0.y_min, b1.y_max - b0.y_max)
    return math.hypot(dx, dy) / ((t1 - t0) * 1e-9) / scale


def point_shift(window: Window) -> float | None:
    """How far a 2-D point moved between the oldest and newest sample (None: not enough samples)."""
    span = window.span()
    if span is None:
        return None
    (_, p0), (_, p1) = span
    return math.hypot(p1[0] - p0[0], p1[1] - p0[1])
