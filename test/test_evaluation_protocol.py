"""The GROUND protocol's rules: normalisation, keys, matching, counting, grouping."""
from __future__ import annotations

import json

import pytest

from merge_ros.evaluation.protocol import (
    EMPTY_KEY,
    Counts,
    Key,
    Prediction,
    event_key,
    group_scenes,
    load_ground_truth,
    load_prediction_folder,
    match,
    normalize_action,
    prediction_key,
    predictions_from_events,
    scene_number,
    score_scene,
    summarize,
    write_prediction_folder,
)
from merge_ros.types import Event, seconds_to_ns

PERSON = "67bc6c24b50c035c485bbf56"


def ev(action: str, obj: str = "object_1", on: str = "", robot: bool = False) -> dict:
    return {"object": obj, "action": action, "robot_interaction": robot, "on": on}


def pred(stamp: float, action: str, obj: str = "object_1", on: str | None = None, robot: bool = False) -> Prediction:
    d = {"object": obj, "action": action, "robot_interaction": robot}
    if on is not None:
        d["on"] = on
    return Prediction(stamp, [d])


def counts(gt: dict, preds: dict, tolerance: float = 5.0) -> dict[str, tuple[int, int, int]]:
    score = score_scene(gt, preds, tolerance)
    return {name: (c.tp, c.fp, c.fn) for name, c in score.counts.items()}


@pytest.mark.parametrize(("label", "expected"), [
    ("grasp", "hold"), ("pick_up", "hold"), ("hold", "hold"), ("place", "place_down"), ("place_down", "place_down"),
    ("fill", "pour"), ("pour", "pour"), ("handover", "handover"), ("idle", "idle"), ("wave", "wave"),
    ("\tgrasp", "\tgrasp"), ("", ""),
])
def test_action_maps_to_first_entry_naming_it(label, expected):
    assert normalize_action(label) == expected


@pytest.mark.parametrize(("gt_action", "pred_action", "hit"), [
    ("grasp", "hold", True), ("grasp", "pick_up", True), ("place_down", "place", True), ("pour", "fill", True),
    ("handover", "hold", False),  # handover stays handover; hold is taken by the first entry
    ("\tgrasp", "grasp", False), ("\tgrasp", "\tgrasp", False), ("                        place_down", "place_down",
                                                                   False),
    ("", "", False),
])
def test_action_field_agreement_after_normalisation(gt_action, pred_action, hit):
    gt = {PERSON: [(10.0, ev(gt_action))]}
    got = counts(gt, {PERSON: [pred(10.0, pred_action)]})
    assert got["action"] == ((1, 0, 0) if hit else (0, 1, 1))
    assert got["tuple"] == got["action"]
    assert got["object"] == (1, 0, 0)


@pytest.mark.parametrize("content", [
    {}, [], [1], "text", None, [{PERSON: {"object": "object_1", "action": "hold"}}], [{}],
])
def test_prediction_that_is_not_a_list_of_dicts_has_the_empty_key(content):
    assert prediction_key(content) == EMPTY_KEY == Key("", "", "", False)


def test_prediction_key_takes_first_dict_and_scores_on_not_in():
    record = [{"action": "grasp", "object": "o1", "in": "bowl", "robot_interaction": True}, {"action": "pour"}]
    assert prediction_key(record) == Key("hold", "o1", "", True)
    assert event_key({"action": "place", "object": "o1", "on": "plate", "robot_interaction": "true"}) == \
        Key("place_down", "o1", "plate", True)


def test_malformed_prediction_files_count_as_empty_predictions(tmp_path):
    files = {"1.5_id_p.json": "[{\"object\": \"o\", \"action\": \"hold\", \"robot_interaction\": false}]",
             "2.5_id_p.json": "{not json", "3.5_id_p.json": "{}", "4.5_id_p.json": "[]",
             "5_id_q_id_x.json": "[{}]", "processing_time.json": "{\"processing_time\": 1, \"images\": 1}",
             "notes.txt": "x", "abc_id_p.json": "[]"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    preds = load_prediction_folder(tmp_path)
    assert sorted(preds) == ["p", "q_id_x"]
    assert [(p.stamp, p.key) for p in preds["p"]] == [(1.5, Key("hold", "o", "", False)), (2.5, EMPTY_KEY),
                                                      (3.5, EMPTY_KEY), (4.5, EMPTY_KEY)]
    assert preds["q_id_x"][0].key == EMPTY_KEY
    gt = {"p": [(1.5, ev("grasp", "o"))]}
    assert counts(gt, preds)["tuple"] == (1, 4, 0)  # q_id_x is in no ground truth: an FP too


def test_tolerance_is_inclusive_on_both_sides():
    gt = {PERSON: [(100.0, ev("hold"))]}
    for stamp in (95.0, 105.0):
        assert counts(gt, {PERSON: [pred(stamp, "hold")]})["tuple"] == (1, 0, 0)
    for stamp in (94.99, 105.01):
        assert counts(gt, {PERSON: [pred(stamp, "hold")]})["tuple"] == (0, 1, 1)
    assert counts(gt, {PERSON: [pred(100.9, "hold")]}, tolerance=1.0)["tuple"] == (1, 0, 0)
    assert counts(gt, {PERSON: [pred(101.1, "hold")]}, tolerance=1.0)["tuple"] == (0, 1, 1)


def test_a_prediction_is_used_once_and_the_closest_unused_is_chosen():
    gt = {PERSON: [(100.0, ev("hold")), (101.0, ev("hold"))]}
    assert counts(gt, {PERSON: [pred(100.5, "hold")]})["tuple"] == (1, 0, 1)
    key = event_key(ev("hold"))
    # closest first: 100 takes 99 (1 s) rather than 102.5 (2.5 s); 103 then takes 102.5
    assert match([(100.0, key), (103.0, key)], [(99.0, key), (102.5, key)], 5.0) == [(0, 0), (1, 1)]
    # greedy in ground-truth order, not an optimal assignment: 100 takes 101.5, so 104 finds nothing within 3 s
    assert match([(100.0, key), (104.0, key)], [(98.0, key), (101.5, key)], 3.0) == [(0, 1)]
    # equally close: the earlier prediction
    assert match([(100.0, key)], [(99.0, key), (101.0, key)], 5.0) == [(0, 0)]


def test_only_agreeing_predictions_are_candidates_and_each_field_matches_alone():
    gt = {PERSON: [(100.0, ev("grasp", "object_1"))]}
    preds = {PERSON: [pred(100.2, "hold", "object_2"), pred(102.0, "hold", "object_1")]}
    score = score_scene(gt, preds, 5.0)
    assert score.actors[PERSON].pairs == [(0, 1)]  # the farther one, whose tuple agrees
    assert counts(gt, preds)["tuple"] == (1, 1, 0)
    # per field, a prediction is used at most once: the second ground-truth event cannot reuse it
    gt2 = {PERSON: [(100.0, ev("grasp", "object_1")), (101.0, ev("place_down", "object_1", on="object_5"))]}
    got = counts(gt2, {PERSON: [pred(100.5, "hold", "object_1")]})
    assert got["object"] == (1, 0, 1)
    assert got["action"] == (1, 0, 1)
    assert got["robot"] == (1, 0, 1)
    assert got["on"] == (1, 0, 1)  # missing `on` is "", as the grasp's
    assert got["tuple"] == (1, 0, 1)


def test_idle_is_not_scored_and_persons_are_matched_separately():
    gt = {PERSON: [(100.0, ev("idle", "")), (110.0, ev("place_down", "o1", on="o2", robot=True))],
          "other": [(100.0, ev("grasp", "o3"))]}
    preds = {PERSON: [pred(100.0, "idle", ""), pred(110.0, "place_down", "o1", on="o2", robot=True)],
             "other": [pred(110.0, "place_down", "o1", on="o2", robot=True)],
             "robot_1": [pred(100.0, "grasp", "o3")]}
    got = counts(gt, preds)
    assert got["tuple"] == (1, 3, 1)
    assert got["robot"] == (1, 3, 1)
    score = score_scene(gt, preds, 5.0)
    assert not score.actors["robot_1"].in_ground_truth and score.actors[PERSON].in_ground_truth
    assert [k.action for _, k in score.actors[PERSON].ground_truth] == ["place_down"]


def test_summarize_is_micro_averaged():
    a = score_scene({PERSON: [(1.0, ev("hold"))]}, {PERSON: [pred(1.0, "hold")]}, 5.0)
    b = score_scene({PERSON: [(1.0, ev("hold")), (50.0, ev("hold"))]}, {PERSON: [pred(30.0, "hold")]}, 5.0)
    s = summarize([a, b])
    assert (s["TP"], s["FP"], s["FN"]) == (1, 1, 2)
    assert s["f1"] == pytest.approx(2 / (2 + 1 + 2))
    assert s["f1"] != pytest.approx((a.counts["tuple"].f1 + b.counts["tuple"].f1) / 2)
    assert summarize([])["f1"] == 0.0 and Counts().f1 == 0.0


def test_ground_truth_loading(tmp_path):
    path = tmp_path / "ground_truth.json"
    path.write_text(json.dumps({"p": {"12.5": [ev("place_down")], "3": [ev("idle", ""), ev("grasp")]}}))
    gt = load_ground_truth(path)
    assert [(t, d["action"]) for t, d in gt["p"]] == [(3.0, "idle"), (3.0, "grasp"), (12.5, "place_down")]
    path.write_text(json.dumps({"p": {"later": []}}))
    with pytest.raises(ValueError, match="later"):
        load_ground_truth(path)
    path.write_text("[1, 2")
    with pytest.raises(ValueError, match="not JSON"):
        load_ground_truth(path)


def test_events_become_paper_predictions():
    stamp = 1742756707.5
    events = [Event(seconds_to_ns(stamp + 1), "person_1", "place_down", "apple_1", "on", "plate_2", True),
              Event(seconds_to_ns(stamp), "person_1", "pour", "cup_1", "in", "bowl_1"),
              Event(seconds_to_ns(stamp), "robot_1", "grasp", "cup_2", event_id="e7")]
    preds = predictions_from_events(events)
    assert sorted(preds) == ["person_1", "robot_1"]
    assert [p.stamp for p in preds["person_1"]] == [stamp, stamp + 1]  # time order
    # GROUND names every placement target in `on` (the scored field), so "in" fills both
    assert preds["person_1"][0].record == [{"object": "cup_1", "action": "pour", "robot_interaction": False,
                                            "on": "bowl_1", "in": "bowl_1"}]
    assert preds["person_1"][0].key == Key("pour", "cup_1", "bowl_1", False)
    assert preds["person_1"][1].key == Key("place_down", "apple_1", "plate_2", True)
    assert preds["robot_1"][0].key == Key("hold", "cup_2", "", False) and preds["robot_1"][0].source == "e7"


def test_groups_follow_scene_numbers_not_names_or_counts():
    names = ["scene_016_ha2P1R", "scene_002_sf2P", "scene_001_sf1P", "scene_009_po1P", "scene_010_po2P",
             "scene_004_sf2P", "scene_017_new", "unnumbered"]
    assert scene_number("scene_007_sf2P1R") == 7 and scene_number("unnumbered") is None
    assert group_scenes(names) == [["scene_001_sf1P"], ["scene_002_sf2P", "scene_004_sf2P"],
                                   ["scene_009_po1P", "scene_010_po2P"], ["scene_016_ha2P1R"],
                                   ["scene_017_new", "unnumbered"]]


def test_events_written_as_a_paper_run_folder_read_back_as_the_same_predictions(tmp_path):
    stamp = 1742756707.5
    events = [Event(seconds_to_ns(stamp), "person_1", "grasp", "apple_1"),
              Event(seconds_to_ns(stamp), "person_1", "place_down", "apple_1", "in", "bowl_1"),  # same stamp
              Event(seconds_to_ns(stamp + 2), "p2", "handover", "cup_1", robot_interaction=True)]
    assert write_prediction_folder(tmp_path / "run", events) == 3
    assert len(list((tmp_path / "run").glob("*_id_*.json"))) == 3
    back = load_prediction_folder(tmp_path / "run")
    expected = predictions_from_events(events)
    assert {a: sorted(p.key for p in v) for a, v in back.items()} == \
           {a: sorted(p.key for p in v) for a, v in expected.items()}
