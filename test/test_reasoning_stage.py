"""The event stage offline (no ROS): the pick-and-place through detector, request builder, dispatcher and a
backend called directly or in a worker thread; the same input gives the same triggers and candidates."""
from __future__ import annotations

import threading

from reasoning_support import (
    FPS,
    PERCEPTION_CANDIDATES,
    T0_NS,
    asked,
    render,
    run_offline,
    scene,
    scripted_answer,
    wait_until,
)
from vlm_doubles import FakeVlmBackend

from merge_ros.events import ChangeDetector
from merge_ros.events.stage import EventStage, StageConfig
from merge_ros.reasoning.backends import NoneBackend
from merge_ros.reasoning.parse import trigger_id
from merge_ros.reasoning.prompt import RequestBuilder
from merge_ros.reasoning.worker import BackendWorker
from merge_ros.types import Box, Entity, EntityFrame, EntityKind, seconds_to_ns


def keys(candidates, source=None):
    return [(c.actor_id, c.action, c.object_id, c.relation, c.target_id) for c in candidates
            if source is None or c.source == source]


def expected_trigger_ids(triggers, candidates):
    """A perception candidate names its trigger exactly when the VLM was asked about that trigger."""
    ids = {t.stamp_ns: trigger_id(t) for t in asked(triggers)}
    return [ids.get(c.stamp_ns, "") for c in candidates]


def test_none_backend_offline_gives_perceptions_candidates_once():
    stage, triggers, candidates = run_offline(NoneBackend().reason)
    assert asked(triggers), "the scene must contain a trigger worth reasoning"
    assert keys(candidates) == PERCEPTION_CANDIDATES and {c.source for c in candidates} == {"perception"}
    assert [c.trigger_id for c in candidates] == expected_trigger_ids(triggers, candidates)
    status = stage.status()
    assert (status.requests, status.dropped, status.failures, status.in_flight) == (len(asked(triggers)), 0, 0, 0)


def test_vlm_answers_follow_perception_and_runs_repeat_exactly():
    backend = FakeVlmBackend([scripted_answer])
    _, triggers, first = run_offline(backend.reason)
    _, triggers_again, second = run_offline(FakeVlmBackend([scripted_answer]).reason)
    assert triggers == triggers_again and first == second
    assert [r.trigger for r in backend.requests] == asked(triggers)
    vlm = [c for c in first if c.source == "vlm"]
    expected = [("person_1", "place_down", "apple_1", "on", "plate_1") if t.tentative_action == "place_down"
                else ("person_1", "hold", "apple_1", "", "") for t in asked(triggers)]
    assert keys(vlm) == expected  # a VLM agreeing with perception goes out too: for grounding it confirms
    assert [c.trigger_id for c in vlm] == [trigger_id(t) for t in asked(triggers)]
    assert keys(first, "perception") == PERCEPTION_CANDIDATES


def test_each_frame_is_one_step_holding_its_candidates_in_order():
    """Synchronous answers (offline) land in the step of the frame that asked; grounding sees one stream."""
    steps: list = []
    _, triggers, candidates = run_offline(FakeVlmBackend([scripted_answer]).reason, steps=steps)
    assert all(s.frame is not None for s in steps) and len(steps) == 7 * FPS
    assert [s.stamp_ns for s in steps] == [s.frame.stamp_ns for s in steps] == sorted(s.stamp_ns for s in steps)
    assert [c for s in steps for c in s.candidates] == candidates
    # a VLM answer is in the same step as perception's candidate for the trigger that asked
    for s in steps:
        vlm = [c for c in s.candidates if c.source == "vlm"]
        assert all(any(p.trigger_id == c.trigger_id and p.source == "perception" for p in s.candidates)
                   for c in vlm)


def test_answers_from_another_thread_are_steps_of_their_own():
    steps: list = []
    worker = BackendWorker(FakeVlmBackend([scripted_answer], delay_s=0.05), timeout_s=5.0)
    stage, triggers, candidates = run_offline(worker.submit, steps=steps)
    assert wait_until(lambda: stage.status().in_flight == 0)
    worker.close()
    answers = [s for s in steps if s.frame is None]
    assert answers and all(c.source == "vlm" for s in answers for c in s.candidates)
    assert sum(s.frame is not None for s in steps) == 7 * FPS
    assert sorted((c.stamp_ns, c.source) for s in steps for c in s.candidates) == sorted(
        (c.stamp_ns, c.source) for c in candidates)


def test_worker_thread_gives_the_same_candidates():
    _, _, expected = run_offline(FakeVlmBackend([scripted_answer]).reason)
    worker = BackendWorker(FakeVlmBackend([scripted_answer], delay_s=0.05), timeout_s=5.0)
    stage, _, candidates = run_offline(worker.submit)
    assert wait_until(lambda: stage.status().in_flight == 0 and len(candidates) == len(expected))
    worker.close()

    def order(e):
        return e.stamp_ns, e.source

    assert sorted(candidates, key=order) == sorted(expected, key=order)


def test_without_frames_requests_are_dropped_and_perception_goes_on():
    stage, triggers, candidates = run_offline(NoneBackend().reason, frames=False)
    assert keys(candidates) == PERCEPTION_CANDIDATES and all(c.trigger_id == "" for c in candidates)
    assert (stage.status().requests, stage.status().dropped) == (0, len(asked(triggers)))


def test_no_vlm_reachable_counts_failures_and_nobody_waits():
    problems = []
    stage, triggers, candidates = run_offline(NoneBackend().reason, ready=lambda: False, on_problem=problems.append)
    n = len(asked(triggers))
    assert keys(candidates) == PERCEPTION_CANDIDATES and all(c.trigger_id == "" for c in candidates)
    assert (stage.status().requests, stage.status().failures) == (n, n) and len(problems) == n


def test_use_vlm_false_asks_nothing():
    called = threading.Event()
    stage, _, candidates = run_offline(lambda request: called.set(), config=StageConfig(use_vlm=False))
    assert keys(candidates) == PERCEPTION_CANDIDATES and not called.is_set() and stage.status().requests == 0


def test_other_actors_are_captioned_with_perceptions_current_reading():
    """A second person standing by while person_1 places the apple: the request says what perception thinks."""
    backend = FakeVlmBackend([scripted_answer])
    stage = EventStage(ChangeDetector(), RequestBuilder(), backend.reason, on_step=lambda s: None)
    for i in range(70):
        t = i / FPS
        entities = [*scene(t), Entity("person_2", EntityKind.PERSON, "person", Box(480, 50, 640, 450), 0.9)]
        stamp = T0_NS + seconds_to_ns(t)
        stage.add_frame(stamp, render(entities))
        stage.update(EntityFrame(stamp, "camera", entities))
    assert backend.requests
    captions = backend.requests[-1].captions
    assert "person_2 (tentative: idle)" in captions
    assert any(c.startswith("person_1 (tentative: place_down apple_1") for c in captions)
