"""The annotated debug frame: boxes with persistent IDs, hands, current relations and the last events.

Drawn with OpenCV on a copy of the camera frame (BGR, 8 bit) from the same layout as the rviz markers.
"""
from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from merge_ros.types import EntityKind, Event, SceneState
from merge_ros.visualization.layout import (
    HAND_COLOR,
    TEXT_COLOR,
    caption,
    event_line,
    kind_color,
    predicate_color,
    relation_segments,
)

FONT = cv2.FONT_HERSHEY_SIMPLEX


def _bgr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return (rgb[2], rgb[1], rgb[0])


def _pt(p: tuple[float, float]) -> tuple[int, int]:
    return (int(round(p[0])), int(round(p[1])))


def draw_debug_image(frame: np.ndarray, scene: SceneState, recent: Iterable[Event] = (),
                     visible: set[str] | None = None, panel_lines: int | None = None) -> np.ndarray:
    """A copy of `frame` annotated with the scene, with the recent events in a band below it.

    Entities not in `visible` (if given) are drawn thin and marked "(not seen)": the model still knows them where
    they were last seen. The band has `panel_lines` rows (default: one per event), so a fixed value keeps the
    image size constant while events accumulate (a video recorder needs that); it sits below the frame so that
    it never hides the scene. Text size follows the frame height (readable from 320 px to 1080 px frames).
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"debug image needs an 8-bit BGR frame, got shape {frame.shape} {frame.dtype}")
    out = np.ascontiguousarray(frame).copy()
    h = out.shape[0]
    font_scale = max(0.35, h / 900.0)
    thick = max(1, int(round(h / 240.0)))  # lines
    text_thick = max(1, h // 720)
    for e in scene.entities:
        color = _bgr(kind_color(e))
        seen = visible is None or e.id in visible
        b = e.box
        cv2.rectangle(out, _pt((b.x_min, b.y_min)), _pt((b.x_max, b.y_max)), color, thick if seen else 1)
        _label(out, caption(e) if seen else f"{caption(e)} (not seen)", _pt((b.x_min, b.y_min)), color,
               font_scale, text_thick)
        if EntityKind(e.kind).is_actor:
            for k in e.hands():
                cv2.circle(out, _pt((k.x, k.y)), 2 * thick + 2, _bgr(HAND_COLOR), -1)
    for seg in relation_segments(scene.relations, scene.entities):
        color = _bgr(predicate_color(seg.relation.predicate))
        length = max(1.0, float(np.hypot(seg.end[0] - seg.start[0], seg.end[1] - seg.start[1])))
        cv2.arrowedLine(out, _pt(seg.start), _pt(seg.end), color, thick + 1, tipLength=min(0.4, 6.0 * thick / length))
        _label(out, seg.relation.predicate, _pt(seg.middle), color, font_scale, text_thick)
    lines = [event_line(e) for e in recent]
    return _with_event_panel(out, lines, len(lines) if panel_lines is None else panel_lines, font_scale,
                             text_thick)


def _label(img: np.ndarray, text: str, corner: tuple[int, int], color: tuple[int, int, int], font_scale: float,
           thick: int) -> None:
    """Text on a filled background above `corner` (below it when there is no room above)."""
    (w, th), base = cv2.getTextSize(text, FONT, font_scale, thick)
    x, y = corner
    top = y - th - base - 2 if y - th - base - 2 >= 0 else y
    cv2.rectangle(img, (x, top), (x + w + 4, top + th + base + 2), color, -1)
    cv2.putText(img, text, (x + 2, top + th + 1), FONT, font_scale, (0, 0, 0), thick, cv2.LINE_AA)


def _with_event_panel(img: np.ndarray, lines: list[str], rows: int, font_scale: float, thick: int) -> np.ndarray:
    """The image over a dark band listing the last `rows` events, newest at the bottom."""
    if rows <= 0:
        return img
    (_, th), base = cv2.getTextSize("Ag", FONT, font_scale, thick)
    step = th + base + 6
    band = np.full((step * rows + 8, img.shape[1], 3), 32, np.uint8)
    for i, text in enumerate(lines[-rows:]):
        cv2.putText(band, text, (6, 4 + th + i * step), FONT, font_scale, _bgr(TEXT_COLOR), thick, cv2.LINE_AA)
    return np.vstack([img, band])
