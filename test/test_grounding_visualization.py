"""rviz markers and the debug image show the entities, their IDs, the current relations and the recent events."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from grounding_samples import cand, frame, person, thing
from visualization_msgs.msg import Marker

from merge_ros.grounding import GroundingConfig, WorldModel
from merge_ros.ros.markers import MarkerBuilder
from merge_ros.visualization.debug_image import draw_debug_image
from merge_ros.visualization.layout import HAND_COLOR, KIND_COLORS, PREDICATE_COLORS, SUPPORT_COLOR

RVIZ = Path(__file__).resolve().parents[1] / "config" / "merge.rviz"


@pytest.fixture
def world() -> WorldModel:
    """person_1 holds the cup (in its right hand), the apple lies on the plate, person_2 does nothing."""
    m = WorldModel(GroundingConfig())
    m.observe(frame(0.0, person("person_1", 40), person("person_2", 400), thing("cup_1", "cup", 120, 190),
                    thing("apple_1", "apple", 300, 330, 24), thing("plate_1", "plate", 280, 350, 70)))
    for c in (cand(0.0, "person_1", "grasp", "cup_1"), cand(1.0, "person_2", "grasp", "apple_1"),
              cand(2.0, "person_2", "place_down", "apple_1", "on", "plate_1")):
        m.add_candidate(c)
    m.finish()
    return m


def _by_ns(markers) -> dict[str, list[Marker]]:
    out: dict[str, list[Marker]] = {}
    for mk in markers.markers:
        out.setdefault(mk.ns, []).append(mk)
    return out


def test_markers_show_ids_boxes_hands_relations_and_recent_events(world):
    builder = MarkerBuilder(scale=0.01, frame_id="camera")
    arr = builder.build(world.scene(), world.recent_events(2), visible={"person_1", "cup_1", "plate_1",
                                                                        "person_2"})
    assert arr.markers[0].action == Marker.DELETEALL
    ns = _by_ns(arr)
    assert [m.text for m in ns["labels"]] == ["apple_1", "cup_1", "person_1", "person_2", "plate_1"]
    assert all(m.header.frame_id == "camera" for m in arr.markers[1:])
    assert len({(m.ns, m.id) for m in arr.markers}) == len(arr.markers)  # unique IDs
    cup_box = [m for m, label in zip(ns["boxes"], ns["labels"], strict=True) if label.text == "cup_1"][0]
    # image plane: (u, v) -> (u * scale, -v * scale); the cup spans u 120..150, v 190..220
    assert [(round(p.x, 3), round(p.y, 3)) for p in cup_box.points] == [
        (1.2, -1.9), (1.5, -1.9), (1.5, -2.2), (1.2, -2.2), (1.2, -1.9)]
    apple_box = ns["boxes"][0]
    assert apple_box.color.a < 1.0 == cup_box.color.a  # not in the latest frame: drawn faint
    assert len(ns["hands"]) == 2 and len(ns["hands"][0].points) == 2
    # one arrow per relation: holds from person_1's right wrist (110, 205) to the cup centre; apple on plate
    assert [m.text for m in ns["relation_labels"]] == ["holds", "on"]
    holds, on = ns["relations"]
    assert [(round(p.x, 3), round(p.y, 3)) for p in holds.points] == [(1.1, -2.05), (1.35, -2.05)]
    assert [(round(p.x, 3), round(p.y, 3)) for p in on.points] == [(3.12, -3.42), (3.15, -3.85)]
    assert (holds.color.r, holds.color.g) == (PREDICATE_COLORS["holds"][0] / 255, PREDICATE_COLORS["holds"][1] / 255)
    [events] = ns["events"]
    assert events.text.splitlines() == ["recent events:", "evt-000002 person_2 grasp apple_1",
                                        "evt-000003 person_2 place_down apple_1 on plate_1"]
    assert events.pose.position.y > 0  # above the image's top edge (v < 0)


def test_markers_leave_out_relations_to_entities_never_seen():
    m = WorldModel(GroundingConfig())
    m.observe(frame(0.0, person("person_1", 0)))
    m.add_candidate(cand(0.0, "person_1", "grasp", "ghost_1"))
    m.finish()
    ns = _by_ns(MarkerBuilder().build(m.scene(), []))
    assert "relations" not in ns and "events" not in ns and len(ns["labels"]) == 1
    with pytest.raises(ValueError):
        MarkerBuilder(scale=0.0)


def _has_color(region: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 10) -> bool:
    bgr = np.array(rgb[::-1], dtype=int)
    return bool((np.abs(region.astype(int) - bgr).max(axis=-1) <= tolerance).any())


def test_debug_image_draws_boxes_hands_relations_and_an_event_panel(world):
    frame_bgr = np.full((480, 640, 3), 128, np.uint8)
    out = draw_debug_image(frame_bgr, world.scene(), world.recent_events(3), visible=None, panel_lines=4)
    assert frame_bgr.max() == 128 == frame_bgr.min()  # the input is untouched
    assert out.shape[1:] == (640, 3) and out.shape[0] > 480
    scene_part, panel = out[:480], out[480:]
    person_1_box_left_edge = scene_part[100:250, 38:43]
    assert _has_color(person_1_box_left_edge, KIND_COLORS[person("p", 0).kind])
    assert _has_color(scene_part[195:215, 100:120], HAND_COLOR)  # right wrist of person_1 at (110, 205)
    assert _has_color(scene_part[200:212, 112:135], PREDICATE_COLORS["holds"])  # the hold arrow towards the cup
    assert _has_color(scene_part[342:375, 308:318], SUPPORT_COLOR)  # apple -> plate ("on")
    assert _has_color(scene_part[185:225, 115:155], KIND_COLORS[thing("c", "cup", 0).kind])
    text_rows = np.nonzero((panel > 200).all(axis=-1).any(axis=1))[0]
    assert text_rows.size and text_rows.max() - text_rows.min() > panel.shape[0] // 3  # three lines of text
    empty = draw_debug_image(frame_bgr, world.scene(), [], panel_lines=4)
    assert empty.shape == out.shape  # a fixed panel keeps the size constant while events accumulate
    assert (out[480:] != empty[480:]).any()


def test_debug_image_refuses_a_frame_that_is_not_bgr8(world):
    with pytest.raises(ValueError, match="BGR"):
        draw_debug_image(np.zeros((10, 10), np.uint8), world.scene())


def test_rviz_config_shows_markers_and_debug_image_in_the_camera_frame():
    config = yaml.safe_load(RVIZ.read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera"
    displays = {d["Class"]: d for d in manager["Displays"]}
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/markers"
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "/debug_image"
    view = manager["Views"]["Current"]
    assert view["Class"] == "rviz_default_plugins/TopDownOrtho" and view["Y"] < 0 < view["X"]  # image plane, v down
    assert set(displays["rviz_default_plugins/MarkerArray"]["Namespaces"]) == {
        "boxes", "labels", "hands", "relations", "relation_labels", "events"}

