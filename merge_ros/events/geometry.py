"""Image-plane geometry of objects for the change detector: valid boxes, scale, what an object rests on or pours
into (the all-pairs distances are merge_ros.box_arrays)."""
from __future__ import annotations

import math
from collections.abc import Sequence

from merge_ros.types import RELATION_IN, RELATION_ON, Box, Entity


def box_valid(box: Box) -> bool:
    """Finite coordinates and a non-negative extent; anything else is a malformed detection."""
    values = (box.x_min, box.y_min, box.x_max, box.y_max)
    return all(math.isfinite(v) for v in values) and box.x_max >= box.x_min and box.y_max >= box.y_min


def object_scale(box: Box, floor_px: float) -> float:
    """Size of an object for speed normalisation: its smaller side. A bottle lifted by its own width is clearly
    moving, while measured against its height the same lift would look like jitter."""
    return max(min(box.width, box.height), floor_px)


def aspect(box: Box) -> float:
    return box.width / max(box.height, 1e-6)


def support_of(obj: Entity, others: Sequence[Entity], margin: float, container_labels: Sequence[str],
               min_area_ratio: float = 1.5) -> tuple[str, str]:
    """(relation, target_id) of the object that `obj` rests on or in, or ("", "") when it rests on nothing known.

    Candidates have the resting object's bottom-centre inside their box grown by `margin` of its size, and a box
    at least `min_area_ratio` times the resting object's. The one covering most of the resting object's box wins
    (a fruit set into a bowl lies mostly inside the bowl's box and only partly inside the fruit next to it), the
    smaller box on a near tie (an apple in a bowl on a tray rests in the bowl). Containers (by label) give "in",
    everything else "on".
    """
    ob = obj.box
    cx = (ob.x_min + ob.x_max) / 2.0
    best: tuple[float, float, Entity] | None = None
    for other in others:
        b = other.box
        if other.id == obj.id or b.area < min_area_ratio * ob.area:
            continue
        mx, my = margin * b.width, margin * b.height
        if not (b.x_min - mx <= cx <= b.x_max + mx and b.y_min - my <= ob.y_max <= b.y_max + my):
            continue
        ix = max(0.0, min(ob.x_max, b.x_max) - max(ob.x_min, b.x_min))
        iy = max(0.0, min(ob.y_max, b.y_max) - max(ob.y_min, b.y_min))
        cover = round(ix * iy / max(ob.area, 1e-6), 1)  # tenths: near ties go to the smaller box
        if best is None or (cover, -b.area) > (best[0], -best[1]):
            best = (cover, b.area, other)
    if best is None:
        return "", ""
    target = best[2]
    relation = RELATION_IN if target.label.strip().lower() in container_labels else RELATION_ON
    return relation, target.id


def pour_target(held: Entity, others: Sequence[Entity], reach_px: float, hand: tuple[float, float] | None,
                container_labels: Sequence[str]) -> str:
    """ID of the object a tilted `held` object pours into, or "" if none is in reach.

    The mouth of a tilted bottle is the end of its box away from the hand that holds it, at the box's bottom;
    the target lies below it (its top within `reach_px`) and overlaps it horizontally (grown by `reach_px`).
    Containers (by label) come first, then the one whose rim (the top of its box) is nearest to the mouth: the
    stream falls onto a rim just below the mouth, and a cup whose rim is well above it stands behind the stream.
    """
    hb = held.box
    cx = (hb.x_min + hb.x_max) / 2.0
    mouth_x = cx if hand is None else (hb.x_max if hand[0] < cx else hb.x_min)
    mouth_y = hb.y_max
    best: tuple[bool, float, str] | None = None
    for other in others:
        if other.id == held.id:
            continue
        b = other.box
        if b.x_max < mouth_x - reach_px or b.x_min > mouth_x + reach_px:
            continue
        gap = b.y_min - mouth_y  # > 0: target top below the mouth; < 0: they overlap vertically
        if gap > reach_px or b.y_max < hb.y_min:
            continue
        key = (other.label.strip().lower() not in container_labels,
               abs((b.x_min + b.x_max) / 2.0 - mouth_x) + abs(gap), other.id)
        if best is None or key < best:
            best = key
    return best[2] if best else ""
