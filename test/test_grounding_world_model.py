"""The world model: temporal consistency, source fusion, de-duplication, consistent relations, queries, bounds."""
from __future__ import annotations

import pytest
from grounding_samples import at, cand, frame, person, thing

from merge_ros.grounding import GroundingConfig, Journal, WorldModel
from merge_ros.types import SOURCE_GROUNDING, Relation


def model(**overrides) -> WorldModel:
    return WorldModel(GroundingConfig(**overrides))


def run(m: WorldModel, *candidates, end: float | None = None):
    """Feed candidates, then let stream time pass to `end` (or flush everything); all confirmed events."""
    out = []
    for c in candidates:
        out += m.add_candidate(c)
    out += m.flush(at(end)) if end is not None else m.finish()
    return out


def keys(events):
    return [(e.actor_id, e.action, e.object_id, e.relation, e.target_id) for e in events]


def holds(m: WorldModel):
    return sorted((r.subject_id, r.predicate, r.object_id) for r in m.relations())


def test_candidate_persists_before_it_is_confirmed():
    m = model(confirm_s=0.3, confirm_frames=2)
    assert m.add_candidate(cand(0.0, "person_1", "grasp", "cup_1")) == []
    m.observe(frame(0.1, person("person_1", 0)))
    assert m.flush(at(0.1)) == []  # too young
    assert m.flush(at(0.35)) == []  # old enough, but only one frame since, and frames are flowing
    m.observe(frame(0.4, person("person_1", 0)))
    [e] = m.flush(at(0.4))
    assert (e.event_id, e.source, e.stamp_ns, e.frame_id) == ("evt-000001", SOURCE_GROUNDING, at(0.0), "camera")
    assert keys([e]) == [("person_1", "grasp", "cup_1", "", "")]
    assert m.event_count == 1 and m.pending == {}


def test_frame_count_is_waived_when_frames_stop():
    m = model(confirm_s=0.3, confirm_frames=5)
    m.observe(frame(0.0, person("person_1", 0)))
    m.add_candidate(cand(0.05, "person_1", "grasp", "cup_1"))
    assert m.flush(at(0.3)) == []  # frames still "flowing" (last one 0.3 s ago at most)
    assert len(m.flush(at(0.5))) == 1  # stream quiet for confirm_s: time alone decides


def test_idle_is_never_an_event_and_vetoes_a_flicker():
    m = model()
    assert run(m, cand(0.0, "person_1", "idle"), cand(1.0, "person_1", "idle", source="vlm")) == []
    # a one-frame grasp followed by idle (same weight, newer) never becomes an event
    assert run(m, cand(2.0, "person_1", "grasp", "cup_1"), cand(2.1, "person_1", "idle"), end=5.0) == []
    assert m.event_count == 0 and m.relations() == []


def test_identical_event_of_an_actor_is_not_repeated():
    m = model()
    first = run(m, cand(0.0, "person_1", "grasp", "cup_1"), end=1.0)
    again = run(m, cand(2.0, "person_1", "grasp", "cup_1"), cand(4.0, "person_1", "idle"),
                cand(6.0, "person_1", "grasp", "cup_1"), end=8.0)
    assert len(first) == 1 and again == []
    assert m.stats["duplicates"] == 2
    later = run(m, cand(9.0, "person_1", "place_down", "cup_1", "on", "table_1"),
                cand(11.0, "person_1", "grasp", "cup_1"), end=13.0)  # no longer identical to the previous one
    assert keys(later) == [("person_1", "place_down", "cup_1", "on", "table_1"), ("person_1", "grasp", "cup_1", "", "")]
    assert [e.event_id for e in first + later] == ["evt-000001", "evt-000002", "evt-000003"]


def test_hold_of_an_object_already_held_is_a_refresh_not_an_event():
    m = model()
    assert len(run(m, cand(0.0, "person_1", "grasp", "cup_1"), cand(1.0, "person_1", "hold", "cup_1"), end=2.0)) == 1
    assert m.stats["redundant_holds"] == 1
    assert len(run(model(redundant_hold=False), cand(0.0, "person_1", "grasp", "cup_1"),
                   cand(1.0, "person_1", "hold", "cup_1"), end=2.0)) == 2


def test_contradiction_within_the_window_goes_to_the_newer_reading_of_equal_weight():
    m = model(confirm_s=0.5)
    out = run(m, cand(0.0, "person_1", "grasp", "apple_1"), cand(0.2, "person_1", "grasp", "orange_1"), end=2.0)
    assert keys(out) == [("person_1", "grasp", "orange_1", "", "")] and m.stats["superseded"] == 1


def test_contradiction_by_a_weaker_source_is_dropped():
    m = model(confirm_s=0.5)
    out = run(m, cand(0.0, "person_1", "grasp", "apple_1", source="vlm", confidence=0.9),
              cand(0.2, "person_1", "grasp", "orange_1", source="perception", confidence=0.9), end=2.0)
    assert keys(out) == [("person_1", "grasp", "apple_1", "", "")] and m.stats["outweighed"] == 1


def test_two_sources_agreeing_confirm_at_once():
    m = model(confirm_s=5.0)
    assert m.add_candidate(cand(1.0, "person_1", "grasp", "cup_1", confidence=0.5)) == []
    assert m.add_candidate(cand(1.2, "person_1", "grasp", "cup_1", confidence=0.5)) == []  # same source: no proof
    [e] = m.add_candidate(cand(1.1, "person_1", "grasp", "cup_1", source="vlm", confidence=0.6))
    assert e.stamp_ns == at(1.0) and e.confidence == pytest.approx(1 - 0.5 * 0.4)


def test_vlm_answer_corrects_the_perception_reading_it_was_asked_about():
    m = model(confirm_s=0.3, vlm_wait_s=3.0)
    m.add_candidate(cand(0.0, "person_1", "grasp", "apple_1", trigger="trg-1"))
    assert m.flush(at(1.0)) == []  # waits for the VLM, beyond confirm_s
    [e] = m.add_candidate(cand(0.0, "person_1", "grasp", "orange_1", source="vlm", confidence=0.8, trigger="trg-1"))
    assert keys([e]) == [("person_1", "grasp", "orange_1", "", "")] and e.trigger_id == "trg-1"
    assert m.finish() == [] and m.stats["corrected"] == 1
    assert holds(m) == [("person_1", "holds", "orange_1")]


def test_vlm_idle_vetoes_and_a_silent_vlm_lets_perception_confirm_after_the_wait():
    m = model(confirm_s=0.3, vlm_wait_s=2.0)
    m.add_candidate(cand(0.0, "person_1", "grasp", "apple_1", trigger="trg-1"))
    assert m.add_candidate(cand(0.0, "person_1", "idle", source="vlm", confidence=0.9, trigger="trg-1")) == []
    assert m.finish() == []
    m.add_candidate(cand(5.0, "person_2", "grasp", "apple_1", trigger="trg-2"))
    assert m.flush(at(6.0)) == []
    assert keys(m.flush(at(7.1))) == [("person_2", "grasp", "apple_1", "", "")]


def test_vlm_candidate_far_from_the_perception_reading_is_an_ordinary_contradiction():
    m = model(confirm_s=1.0, fuse_window_s=0.5)
    m.add_candidate(cand(0.0, "person_1", "grasp", "apple_1"))
    assert m.add_candidate(cand(0.8, "person_1", "grasp", "orange_1", source="vlm", confidence=0.9)) == []
    assert keys(m.flush(at(2.0))) == [("person_1", "grasp", "orange_1", "", "")]  # replaced, then persisted


def test_a_reading_that_only_waits_for_the_vlm_is_confirmed_by_the_next_change_not_replaced():
    m = model(confirm_s=0.3, vlm_wait_s=3.0)
    assert m.add_candidate(cand(0.0, "person_1", "grasp", "apple_1", trigger="trg-1")) == []
    [grasp] = m.add_candidate(cand(1.3, "person_1", "place_down", "apple_1", "on", "plate_1", trigger="trg-2"))
    assert keys([grasp]) == [("person_1", "grasp", "apple_1", "", "")] and grasp.stamp_ns == at(0.0)
    # the VLM answers trg-1 late, agreeing: nothing new, and the pending place_down is untouched
    assert m.add_candidate(cand(0.0, "person_1", "grasp", "apple_1", source="vlm", confidence=0.9,
                                trigger="trg-1")) == []
    [place] = m.add_candidate(cand(1.3, "person_1", "place_down", "apple_1", "on", "plate_1", source="vlm",
                                   confidence=0.9, trigger="trg-2"))
    assert place.action == "place_down" and m.stats["agreed"] == 1 and m.stats["late"] == 1
    # a second late answer for trg-1 repeats an event that is no longer the actor's last: still a duplicate
    assert run(m, cand(0.0, "person_1", "grasp", "apple_1", source="vlm", confidence=0.9, trigger="trg-1")) == []
    assert m.event_count == 2 and m.stats["duplicates"] == 2


def test_a_late_reading_of_an_earlier_moment_does_not_replace_the_pending_one():
    m = model(confirm_s=0.5, vlm_wait_s=0.0)
    m.add_candidate(cand(2.0, "person_1", "grasp", "cup_1"))
    # beyond fuse_window_s (1 s) of the pending reading: not a correction of it, but an earlier event
    [late] = m.add_candidate(cand(0.5, "person_1", "pour", "bottle_1", "in", "cup_2", source="vlm", confidence=0.9))
    assert (late.action, late.stamp_ns) == ("pour", at(0.5))
    assert keys(m.finish()) == [("person_1", "grasp", "cup_1", "", "")]


def test_vlm_answer_after_the_reading_was_confirmed_is_deduplicated_or_a_new_event():
    m = model(confirm_s=0.3, vlm_wait_s=0.0)
    assert len(run(m, cand(0.0, "person_1", "grasp", "apple_1", trigger="trg-1"), end=1.0)) == 1
    assert run(m, cand(0.0, "person_1", "grasp", "apple_1", source="vlm", confidence=0.9, trigger="trg-1")) == []
    [late] = run(m, cand(0.0, "person_1", "grasp", "pear_1", source="vlm", confidence=0.9, trigger="trg-1"))
    assert late.object_id == "pear_1" and late.stamp_ns == at(0.0)  # published events are never retracted


def test_place_down_on_x_ends_the_hold_and_creates_on_x():
    m = model()
    run(m, cand(0.0, "person_1", "grasp", "apple_1"), end=1.0)
    assert holds(m) == [("person_1", "holds", "apple_1")]
    [e] = run(m, cand(2.0, "person_1", "place_down", "apple_1", "on", "plate_1"), end=3.0)
    assert m.relations() == [Relation("apple_1", "on", "plate_1", at(2.0), e.event_id)]
    run(m, cand(4.0, "person_2", "grasp", "apple_1"), end=5.0)  # picked up again: no longer on the plate
    assert holds(m) == [("person_2", "holds", "apple_1")]


def test_handover_and_a_later_grasp_move_the_hold():
    m = model()
    run(m, cand(0.0, "person_1", "grasp", "cup_1"), cand(2.0, "person_1", "handover", "cup_1", target="robot_1",
                                                          robot=True), end=3.0)
    assert holds(m) == [("robot_1", "holds", "cup_1")]
    run(m, cand(4.0, "person_2", "grasp", "cup_1"), end=5.0)  # the most recent holder wins
    assert holds(m) == [("person_2", "holds", "cup_1")]
    run(m, cand(6.0, "person_2", "handover", "cup_1"), end=7.0)  # by its holder, receiver unknown: the hold ends
    assert holds(m) == []
    run(m, cand(8.0, "person_1", "grasp", "cup_1"), cand(9.0, "person_3", "handover", "cup_1"), end=10.0)
    assert holds(m) == [("person_3", "holds", "cup_1")]  # told by the receiver (as the event detector does)


def test_a_late_event_about_an_older_frame_does_not_roll_the_state_back():
    m = model()
    run(m, cand(5.0, "person_1", "place_down", "cup_1", "on", "tray_1"), end=6.0)
    late = run(m, cand(3.0, "person_2", "grasp", "cup_1", source="vlm", confidence=0.9), end=7.0)
    assert len(late) == 1  # it happened, so it is in the history
    assert holds(m) == [("cup_1", "on", "tray_1")]


def test_history_queries_by_actor_object_time_and_count():
    m = model()
    run(m, cand(0.0, "person_1", "grasp", "apple_1"), cand(1.0, "person_2", "grasp", "bowl_1"),
        cand(2.0, "person_1", "place_down", "apple_1", "in", "bowl_1"), cand(3.0, "person_2", "pour", "bowl_1", "in",
                                                                              "cup_1"), end=10.0)
    assert [e.stamp_ns for e in m.events()] == [at(0), at(1), at(2), at(3)]
    assert keys(m.events(actor_id="person_1")) == [("person_1", "grasp", "apple_1", "", ""),
                                                   ("person_1", "place_down", "apple_1", "in", "bowl_1")]
    assert [e.actor_id for e in m.events(object_id="bowl_1")] == ["person_2", "person_1", "person_2"]
    assert [e.stamp_ns for e in m.events(start_ns=at(1), end_ns=at(2))] == [at(1), at(2)]
    assert [e.stamp_ns for e in m.events(max_events=2)] == [at(2), at(3)]
    assert m.events(actor_id="person_9") == []
    assert [e.action for e in m.recent_events(2)] == ["place_down", "pour"]


@pytest.mark.parametrize("bad, reason", [
    (cand(0.0, "", "grasp", "cup_1"), "no actor"),
    (cand(0.0, "person_1", "juggle", "cup_1"), "unknown action"),
    (cand(0.0, "person_1", "grasp"), "no object"),
    (cand(0.0, "person_1", "place_down", "cup_1", "under", "t_1"), "unknown relation"),
    (cand(0.0, "person_1", "place_down", "cup_1", "on"), "relation without target"),
    (cand(0.0, "person_1", "place_down", "cup_1", "on", "cup_1"), "object is its own target"),
    (cand(0.0, "person_1", "grasp", "cup_1", confidence=0.05), "confidence out of range"),
    (cand(0.0, "person_1", "grasp", "cup_1", confidence=float("nan")), "confidence out of range"),
])
def test_invalid_candidates_are_rejected_and_counted(bad, reason):
    m = model()
    assert run(m, bad) == []
    assert m.stats["rejected"] == 1 and m.stats[f"rejected ({reason})"] == 1


def test_entities_are_kept_by_id_and_pruned_from_the_live_view_but_not_from_history():
    m = model(prune_after_s=10.0)
    m.observe(frame(0.0, person("person_1", 0), thing("cup_1", "cup", 100)))
    m.observe(frame(0.5, person("person_1", 5)))  # cup occluded: keeps its last state
    assert [(e.id, e.box.x_min) for e in m.entities()] == [("cup_1", 100), ("person_1", 5)]
    run(m, cand(0.5, "person_1", "grasp", "cup_1"), end=1.0)
    m.observe(frame(20.0, person("person_2", 300)))
    m.flush(at(20.0))
    assert [e.id for e in m.entities()] == ["person_2"]
    assert m.relations() == [] and m.stats["pruned"] == 2
    assert len(m.events(actor_id="person_1")) == 1
    assert m.scene().event_count == 1


def test_memory_history_is_capped_and_the_journal_answers_beyond_it(tmp_path):
    cands = [cand(2.0 * i, "person_1", "grasp" if i % 2 == 0 else "place_down", "cup_1") for i in range(6)]
    capped = model(history_limit=3)
    run(capped, *cands)
    assert len(capped.events()) == 3 and capped.event_count == 6
    with Journal(tmp_path / "j.jsonl") as journal:
        m = WorldModel(GroundingConfig(history_limit=3), journal)
        run(m, *cands)
        assert [e.event_id for e in m.events()] == [f"evt-{i:06d}" for i in range(1, 7)]
        assert len(m.recent_events(10)) == 3


def test_a_long_stream_with_tracker_churn_stays_bounded():
    m = model(prune_after_s=5.0, history_limit=50)
    for i in range(3000):  # 10 fps for 300 s; every 2 s a new person appears and grasps something
        t = i * 0.1
        m.observe(frame(t, person(f"person_{i // 20}", 0), thing("table_1", "table", 0, 400, 200)))
        if i % 20 == 5:
            m.add_candidate(cand(t, f"person_{i // 20}", "grasp", f"cup_{i // 20}"))
        m.flush(at(t))
    assert m.event_count == 150 and len(m.recent_events(1000)) == 50
    # only what was seen within prune_after_s (plus the 1 s between prunes): the table and three persons' worth
    assert len(m.entities()) <= 4 and len(m.relations()) <= 3
    assert len(m._last_seen) <= 7 and len(m._last_event) <= 3  # private, but the bound is the point


def test_scene_changes_bump_the_revision():
    m = model()
    r0 = m.revision
    m.observe(frame(0.0, person("person_1", 0)))
    r1 = m.revision
    m.observe(frame(0.1, person("person_1", 3)))  # boxes move every frame: not a change of the scene's content
    assert r1 > r0 and m.revision == r1
    run(m, cand(0.2, "person_1", "grasp", "cup_1"), end=1.0)
    assert m.revision > r1


@pytest.mark.parametrize("field, value", [("confirm_s", -1.0), ("min_confidence", 1.5), ("history_limit", 0),
                                          ("vlm_priority", float("nan"))])
def test_config_rejects_values_out_of_range(field, value):
    with pytest.raises(ValueError, match=field):
        GroundingConfig(**{field: value})
