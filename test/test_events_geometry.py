"""The detector's building blocks: vectorised distances, support and pour targets, the debounced switch."""
from __future__ import annotations

import numpy as np

from merge_ros.box_arrays import boxes_array, point_box_distances
from merge_ros.events.geometry import pour_target, support_of
from merge_ros.events.switch import DebouncedSwitch
from merge_ros.types import Box, Entity, EntityKind


def obj(oid: str, label: str, box: tuple[float, float, float, float]) -> Entity:
    return Entity(oid, EntityKind.OBJECT, label, Box(*box))


def test_point_box_distances_match_the_scalar_definition():
    rng = np.random.default_rng(0)
    points = rng.uniform(-50, 150, (7, 2))
    corners = rng.uniform(0, 100, (5, 2, 2))
    boxes = [Box(*np.minimum(c[0], c[1]), *np.maximum(c[0], c[1])) for c in corners]
    d = point_box_distances(points, boxes_array(boxes))
    expected = [[b.distance_to_point(*p) for b in boxes] for p in points]
    np.testing.assert_allclose(d, expected)
    assert point_box_distances(points, boxes_array([])).shape == (7, 0)
    assert point_box_distances(np.zeros((0, 2)), boxes_array(boxes)).shape == (0, 5)


def test_support_is_what_covers_most_of_the_resting_object():
    apple = obj("apple_1", "apple", (190, 170, 210, 190))
    tray = obj("tray_1", "tray", (100, 150, 300, 200))
    bowl = obj("bowl_1", "Bowl ", (170, 165, 230, 195))
    far = obj("plate_1", "plate", (400, 150, 500, 200))
    assert support_of(apple, [apple, tray, far], 0.15, ("bowl",)) == ("on", "tray_1")
    # Inside both the bowl and the tray: the smaller box, and a container gives "in".
    assert support_of(apple, [apple, tray, bowl, far], 0.15, ("bowl",)) == ("in", "bowl_1")
    assert support_of(apple, [apple, far], 0.15, ("bowl",)) == ("", "")


def test_support_is_not_the_neighbour_the_object_was_set_down_against():
    apple = obj("apple_1", "apple", (200, 150, 220, 170))
    plate = obj("plate_1", "plate", (150, 150, 300, 175))
    orange = obj("orange_1", "orange", (212, 140, 242, 172))  # bigger, and the apple's bottom-centre is inside it
    assert support_of(apple, [orange, plate], 0.15, ()) == ("on", "plate_1")
    tiny = obj("grape_1", "grape", (205, 165, 215, 175))
    assert support_of(apple, [tiny], 0.15, (), min_area_ratio=1.0) == ("", "")  # smaller than the apple


def test_support_margin_tolerates_a_box_resting_just_above():
    apple = obj("apple_1", "apple", (190, 140, 210, 148))  # bottom 2 px above the plate's top edge
    plate = obj("plate_1", "plate", (150, 150, 250, 170))
    assert support_of(apple, [plate], 0.15, ()) == ("on", "plate_1")
    assert support_of(apple, [plate], 0.0, ()) == ("", "")


def test_pour_target_is_below_the_mouth_away_from_the_hand():
    bottle = obj("bottle_1", "bottle", (100, 100, 180, 130))  # tilted: wider than tall
    left_cup = obj("cup_1", "cup", (80, 150, 110, 190))
    right_cup = obj("cup_2", "cup", (170, 150, 200, 190))
    lamp_above = obj("lamp_1", "lamp", (120, 0, 160, 60))
    others = [bottle, left_cup, right_cup, lamp_above]
    assert pour_target(bottle, others, 40.0, (95.0, 110.0), ("cup",)) == "cup_2"  # held at the left end
    assert pour_target(bottle, others, 40.0, (185.0, 110.0), ("cup",)) == "cup_1"
    assert pour_target(bottle, [bottle, lamp_above], 40.0, (95.0, 110.0), ("cup",)) == ""


def test_pour_target_is_the_cup_whose_rim_is_just_below_the_mouth_not_one_behind_the_stream():
    # as seen in a synthetic three-person scene: the bottle (held at its right end) pours into the cup in front;
    # the cup behind it stands higher in the image, its rim well above the mouth, and nearer to it horizontally
    bottle = obj("bottle_1", "bottle", (191, 283, 282, 331))
    behind = obj("cup_2", "cup", (178, 295, 201, 331))
    front = obj("cup_9", "cup", (182, 324, 212, 364))
    assert pour_target(bottle, [behind, front], 40.0, (245.0, 290.0), ("cup",)) == "cup_9"
    assert pour_target(bottle, [behind], 40.0, (245.0, 290.0), ("cup",)) == "cup_2"  # the only one in reach


def test_pour_target_prefers_a_container():
    bottle = obj("bottle_1", "bottle", (100, 100, 180, 130))
    apple = obj("apple_1", "apple", (165, 140, 195, 170))
    cup = obj("cup_1", "cup", (185, 150, 215, 190))
    assert pour_target(bottle, [apple, cup], 40.0, (95.0, 110.0), ("cup",)) == "cup_1"
    assert pour_target(bottle, [apple, cup], 40.0, (95.0, 110.0), ()) == "apple_1"


def test_switch_needs_consecutive_frames_and_holds_in_the_band():
    sw = DebouncedSwitch(enter_frames=2, exit_frames=3)
    values = [5, 1, 5, 1, 1, 5, 5, 8, 8, 5, 8, 8, 8]  # enter below 2, exit above 7, 5 is in the band
    flips = [sw.update(v < 2, v > 7) for v in values]
    assert [i for i, f in enumerate(flips) if f] == [4, 12]
    assert not sw.on and sw.idle
