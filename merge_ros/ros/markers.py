"""rviz markers of the situational model, drawn in the image plane of the camera.

Coordinates: a pixel (u, v) of the camera image becomes the point (x, y, z) = (u * scale, -v * scale, 0) in
the marker frame (default "camera", the fixed frame of config/merge.rviz). With the default scale of 0.001 a
640x480 image spans 0.64 m x 0.48 m, its top-left corner at the origin, x to the right and y up, so the markers
look like the image itself when rviz looks down the -z axis (the TopDownOrtho view of merge.rviz). Text heights
and line widths are given in pixels and scaled the same way.

Every array starts with a DELETEALL marker and then lists everything anew, so entities that left the scene and
relations that ended disappear without bookkeeping of marker IDs.
"""
from __future__ import annotations

from collections.abc import Iterable

from geometry_msgs.msg import Point as PointMsg
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from merge_ros.types import EntityKind, Event, SceneState
from merge_ros.visualization.layout import (
    HAND_COLOR,
    TEXT_COLOR,
    Point,
    caption,
    event_line,
    kind_color,
    predicate_color,
    relation_segments,
)

TEXT_PX = 14.0
LINE_PX = 3.0
HAND_PX = 10.0
HIDDEN_ALPHA = 0.35  # entities of the scene that the latest frame does not show


class MarkerBuilder:
    """Builds the MarkerArray for one scene; `scale` is metres per pixel, `frame_id` the marker frame."""

    def __init__(self, scale: float = 0.001, frame_id: str = "camera"):
        if not scale > 0:
            raise ValueError(f"marker scale must be > 0, got {scale}")
        self.scale = scale
        self.frame_id = frame_id

    def point(self, p: Point, z: float = 0.0) -> PointMsg:
        return PointMsg(x=float(p[0]) * self.scale, y=-float(p[1]) * self.scale, z=z)

    def build(self, scene: SceneState, recent: Iterable[Event] = (), visible: set[str] | None = None) -> MarkerArray:
        """Boxes, captions and hands of every entity, one line and a label per relation, the recent events.

        `visible`: IDs seen in the latest frame (others are drawn faint); None draws every entity fully.
        """
        markers = [Marker(action=Marker.DELETEALL)]
        for e in scene.entities:
            alpha = 1.0 if visible is None or e.id in visible else HIDDEN_ALPHA
            color = _color(kind_color(e), alpha)
            b = e.box
            corners = [(b.x_min, b.y_min), (b.x_max, b.y_min), (b.x_max, b.y_max), (b.x_min, b.y_max),
                       (b.x_min, b.y_min)]
            box = self._marker("boxes", len(markers), Marker.LINE_STRIP, color)
            box.scale.x = LINE_PX * self.scale
            box.points = [self.point(c) for c in corners]
            markers.append(box)
            markers.append(self._text("labels", len(markers), caption(e), (b.x_min, b.y_min - TEXT_PX), color,
                                      align_left=True))
            hands = e.hands() if EntityKind(e.kind).is_actor else []
            if hands:
                dots = self._marker("hands", len(markers), Marker.SPHERE_LIST, _color(HAND_COLOR, alpha))
                dots.scale.x = dots.scale.y = dots.scale.z = HAND_PX * self.scale
                dots.points = [self.point((k.x, k.y), 0.001) for k in hands]
                markers.append(dots)
        for seg in relation_segments(scene.relations, scene.entities):
            color = _color(predicate_color(seg.relation.predicate))
            line = self._marker("relations", len(markers), Marker.ARROW, color)
            line.scale.x, line.scale.y, line.scale.z = (
                f * LINE_PX * self.scale for f in (1.0, 3.0, 4.0))  # shaft diameter, head diameter, head length
            line.points = [self.point(seg.start, 0.002), self.point(seg.end, 0.002)]
            markers.append(line)
            markers.append(self._text("relation_labels", len(markers), seg.relation.predicate, seg.middle, color))
        lines = [event_line(e) for e in recent]
        if lines:
            text = "\n".join(["recent events:", *lines])
            middle = -((len(lines) + 1) * 1.2 / 2.0 + 1.0) * TEXT_PX  # rviz centres the block: keep it above v=0
            markers.append(self._text("events", len(markers), text, (0.0, middle), _color(TEXT_COLOR),
                                      align_left=True))
        return MarkerArray(markers=markers)

    def _marker(self, ns: str, marker_id: int, kind: int, color: ColorRGBA) -> Marker:
        m = Marker(ns=ns, id=marker_id, type=kind, action=Marker.ADD, color=color)
        m.header.frame_id = self.frame_id
        m.pose.orientation.w = 1.0
        return m

    def _text(self, ns: str, marker_id: int, text: str, at: Point, color: ColorRGBA,
              align_left: bool = False) -> Marker:
        m = self._marker(ns, marker_id, Marker.TEXT_VIEW_FACING, color)
        m.text = text
        m.scale.z = TEXT_PX * self.scale
        # rviz centres text on its position; shift a left-aligned block by about half its widest line
        shift = max(len(t) for t in text.split("\n")) * 0.3 * TEXT_PX if align_left else 0.0
        m.pose.position = self.point((at[0] + shift, at[1]), 0.003)
        return m


def _color(rgb: tuple[int, int, int], alpha: float = 1.0) -> ColorRGBA:
    return ColorRGBA(r=rgb[0] / 255.0, g=rgb[1] / 255.0, b=rgb[2] / 255.0, a=float(alpha))
