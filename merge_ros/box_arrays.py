"""Boxes as (N, 4) arrays, for the geometry of every pair at once: perception and the change detector each handle
tens of boxes and hands per frame, where pairwise Python loops would cost milliseconds."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from merge_ros.types import Box


def boxes_array(boxes: Sequence[Box]) -> np.ndarray:
    """(N, 4) float array of x_min, y_min, x_max, y_max."""
    if not boxes:
        return np.zeros((0, 4))
    return np.array([(b.x_min, b.y_min, b.x_max, b.y_max) for b in boxes], dtype=float)


def point_box_distances(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(P, B) Euclidean distances from each point to each box (0 inside), as Box.distance_to_point for all pairs."""
    if len(points) == 0 or len(boxes) == 0:
        return np.zeros((len(points), len(boxes)))
    x = points[:, 0:1]
    y = points[:, 1:2]
    dx = np.maximum(np.maximum(boxes[None, :, 0] - x, 0.0), x - boxes[None, :, 2])
    dy = np.maximum(np.maximum(boxes[None, :, 1] - y, 0.0), y - boxes[None, :, 3])
    return np.hypot(dx, dy)


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N x 4, xyxy) with every box in b (M x 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
