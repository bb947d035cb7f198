"""Where an object instance can be now: objects do not move by themselves.

An object seen at rest stays where it was, however long it is hidden (under a hand, behind an arm, on a plate
someone leans over); one that moves is carried, by a hand that was next to it, and then it stays where that hand
is (at the same offset). So look-alike instances, which no appearance model can tell apart, are told apart by
where each one can be: the hypotheses for an unseen object are "it stayed" and "it went with hand h", for every
hand that was next to it when it was last seen or came next to where it lay since. A detection's position term
is its best fit over those hypotheses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from merge_ros.box_arrays import boxes_array, point_box_distances
from merge_ros.types import NS_PER_S, Box

Hand = tuple[str, str]  # (persistent ID of the actor, keypoint name)
MAX_CARRIERS = 6  # the most recent hands kept per object: a busy table has few hands near any one object


@dataclass
class _Carrier:
    hand: Hand
    offset: tuple[float, float]  # object centre minus the hand point when the hand was next to it


@dataclass
class _Sighting:
    box: Box
    stamp_ns: int
    frame_shape: tuple[int, ...]
    carriers: list[_Carrier] = field(default_factory=list)


class Whereabouts:
    """The last sighting of each object identity and the hands that may have carried it off since.

    carry_radius: a hand within this many box diagonals of an object's box can be holding it. horizon_s: how
    fast the evidence of a hand that is itself out of sight fades (it may have moved anywhere meanwhile).
    """

    def __init__(self, carry_radius: float, horizon_s: float):
        self.carry_radius = carry_radius
        self.horizon_ns = horizon_s * NS_PER_S
        self._objects: dict[str, _Sighting] = {}
        self._hands: dict[Hand, tuple[float, float, int]] = {}  # last known point and when

    def see_hands(self, stamp_ns: int, hands: dict[Hand, tuple[float, float]]) -> None:
        """This frame's visible hands of the actors (before its objects are placed: they use them)."""
        for hand, (x, y) in hands.items():
            self._hands[hand] = (x, y, stamp_ns)

    def observe(self, stamp_ns: int, frame_shape: tuple[int, ...], seen: dict[str, Box]) -> None:
        """This frame's objects, identity ID -> box (after see_hands for the same frame)."""
        points = [(hand, (x, y)) for hand, (x, y, t) in self._hands.items() if t == stamp_ns]
        near = self._near(list(seen.values()), points)
        for row, (ident, box) in zip(near, seen.items(), strict=True):
            sighting = _Sighting(box, stamp_ns, frame_shape)
            sighting.carriers = [_Carrier(points[j][0], _offset(box, *points[j][1])) for j in np.flatnonzero(row)]
            self._objects[ident] = sighting
        unseen = [s for ident, s in self._objects.items() if ident not in seen and s.frame_shape == frame_shape]
        for sighting, row in zip(unseen, self._near([s.box for s in unseen], points), strict=True):
            for j in np.flatnonzero(row):  # a hand reaching where an unseen object lies may take it away
                hand, (x, y) = points[j]
                if all(c.hand != hand for c in sighting.carriers):
                    sighting.carriers.append(_Carrier(hand, _offset(sighting.box, x, y)))
                    del sighting.carriers[:-MAX_CARRIERS]

    def term(self, ident: str, box: Box, stamp_ns: int, frame_shape: tuple[int, ...]) -> float | None:
        """How well box fits where the object can be, in [-1, 1] (1: exactly there; 0: at the edge of it; -1:
        twice as far or more); None when it was never seen in this image geometry."""
        sighting = self._objects.get(ident)
        if sighting is None or sighting.frame_shape != frame_shape:
            return None
        reach = max(float(np.hypot(sighting.box.width, sighting.box.height)), float(np.hypot(box.width, box.height)),
                    1.0)
        best = _fit(box, sighting.box.center, reach)
        for carrier in sighting.carriers:
            hand = self._hands.get(carrier.hand)
            if hand is None:
                continue
            x, y, seen_ns = hand
            fade = float(np.exp(-max(0, stamp_ns - seen_ns) / self.horizon_ns)) if seen_ns < stamp_ns else 1.0
            expected = (x + carrier.offset[0], y + carrier.offset[1])
            best = max(best, fade * _fit(box, expected, 1.5 * reach))
        return best

    def forget(self, ident: str) -> None:
        self._objects.pop(ident, None)

    def _near(self, boxes: list[Box], points: list[tuple[Hand, tuple[float, float]]]) -> np.ndarray:
        """near[i, j]: hand j is within carry_radius box diagonals of box i."""
        if not boxes or not points:
            return np.zeros((len(boxes), len(points)), bool)
        b = boxes_array(boxes)
        radius = self.carry_radius * np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        return point_box_distances(np.array([p for _, p in points]), b).T <= radius[:, None]


def _offset(box: Box, x: float, y: float) -> tuple[float, float]:
    cx, cy = box.center
    return (cx - x, cy - y)


def _fit(box: Box, expected: tuple[float, float], reach: float) -> float:
    cx, cy = box.center
    return 1.0 - min(2.0, float(np.hypot(cx - expected[0], cy - expected[1])) / reach)
