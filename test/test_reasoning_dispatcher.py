"""The bounded asynchronous dispatcher and the backend worker: in-flight bound, coalescing, drops, timeouts,
failures, and the two ways of calling (futures and synchronous results)."""
from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from vlm_doubles import FakeVlmBackend

from merge_ros.reasoning.dispatcher import ReasoningDispatcher
from merge_ros.reasoning.status import ERROR_TIMEOUT, error_kind, failure
from merge_ros.reasoning.worker import BackendWorker
from merge_ros.types import ReasonRequest, ReasonResult, Trigger

GOOD = '{"actor": "%s", "action": "grasp", "object": "cup_1"}'


def request(actor: str, stamp_ns: int = 1) -> ReasonRequest:
    return ReasonRequest(Trigger(stamp_ns, "camera", actor, "object_moving", "grasp", "cup_1"), "prompt",
                         actor_ids=[actor], object_ids=["cup_1"])


class Calls:
    """A call that hands out futures the test completes by hand, and remembers what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[ReasonRequest, Future]] = []

    def __call__(self, req: ReasonRequest) -> Future:
        future: Future = Future()
        self.sent.append((req, future))
        return future

    def answer(self, index: int, result: ReasonResult | None = None) -> None:
        self.sent[index][1].set_result(result or ReasonResult(True))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(calls, max_in_flight=2, max_queued=4, **kwargs):
    results: list[tuple[str, ReasonResult]] = []
    dispatcher = ReasoningDispatcher(calls, lambda req, res: results.append((req.trigger.actor_id, res)),
                                     max_in_flight=max_in_flight, max_queued=max_queued, **kwargs)
    return dispatcher, results


def test_in_flight_is_bounded_and_the_queue_drains_as_answers_arrive():
    calls = Calls()
    dispatcher, results = make(calls)
    for actor in ("person_1", "person_2", "person_3"):
        dispatcher.submit(request(actor))
    assert [r.trigger.actor_id for r, _ in calls.sent] == ["person_1", "person_2"]
    assert (dispatcher.in_flight, dispatcher.queued) == (2, 1)
    calls.answer(1)
    assert [r.trigger.actor_id for r, _ in calls.sent] == ["person_1", "person_2", "person_3"]
    assert results == [("person_2", ReasonResult(True))]
    calls.answer(0)
    calls.answer(2)
    status = dispatcher.status(7)
    assert (status.stamp_ns, status.requests, status.in_flight, status.dropped, status.failures) == (7, 3, 0, 0, 0)


def test_newer_request_of_an_actor_replaces_its_stale_queued_one():
    calls = Calls()
    dispatcher, _ = make(calls, max_in_flight=1)
    dispatcher.submit(request("person_1", 1))
    dispatcher.submit(request("person_2", 2))
    dispatcher.submit(request("person_2", 3))  # coalesced: replaces stamp 2
    assert dispatcher.queued == 1 and dispatcher.status().dropped == 1
    calls.answer(0)
    assert calls.sent[1][0].trigger.stamp_ns == 3


def test_full_queue_drops_its_oldest():
    calls = Calls()
    dispatcher, _ = make(calls, max_in_flight=1, max_queued=2)
    for i, actor in enumerate(("person_0", "person_1", "person_2", "person_3")):
        dispatcher.submit(request(actor, i))
    assert dispatcher.status().dropped == 1
    calls.answer(0)
    calls.answer(1)
    assert [r.trigger.actor_id for r, _ in calls.sent] == ["person_0", "person_2", "person_3"]


def test_no_queue_drops_what_cannot_start():
    calls = Calls()
    dispatcher, _ = make(calls, max_in_flight=1, max_queued=0)
    dispatcher.submit(request("person_1"))
    dispatcher.submit(request("person_2"))
    assert len(calls.sent) == 1 and dispatcher.status().dropped == 1


def test_outstanding_requests_time_out_and_a_late_answer_is_ignored():
    calls, clock = Calls(), Clock()
    dispatcher, results = make(calls, max_in_flight=1, timeout_s=5.0, clock=clock)
    dispatcher.submit(request("person_1"))
    dispatcher.submit(request("person_2"))
    clock.now = 4.0
    assert dispatcher.expire() == 0
    clock.now = 6.0
    assert dispatcher.expire() == 1
    assert calls.sent[0][1].cancelled()
    assert results[0][0] == "person_1" and error_kind(results[0][1]) == ERROR_TIMEOUT
    assert [r.trigger.actor_id for r, _ in calls.sent] == ["person_1", "person_2"]  # the slot was freed
    calls.answer(1)
    status = dispatcher.status()
    assert (status.requests, status.timeouts, status.in_flight) == (2, 1, 0)
    assert len(results) == 2


def test_failures_of_every_kind_are_counted_and_the_dispatcher_goes_on():
    outcomes = iter([RuntimeError("transport closed"), failure("malformed", "no JSON"), "not a result",
                     ReasonResult(True)])

    def call(req):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        future: Future = Future()
        future.set_result(outcome)
        return future

    dispatcher, results = make(call)
    for actor in ("person_1", "person_2", "person_3", "person_4"):
        dispatcher.submit(request(actor))
    status = dispatcher.status()
    assert (status.requests, status.failures, status.malformed, status.in_flight) == (4, 2, 1, 0)
    assert [r.success for _, r in results] == [False, False, False, True]


def test_synchronous_results_keep_submission_order():
    seen = []
    dispatcher, results = make(lambda req: seen.append(req.trigger.stamp_ns) or ReasonResult(True), max_in_flight=1)
    for i in range(5):
        dispatcher.submit(request(f"person_{i}", i))
    assert seen == [0, 1, 2, 3, 4] and len(results) == 5 and dispatcher.status().dropped == 0


def test_a_failing_result_callback_does_not_stop_dispatch():
    calls = Calls()
    dispatcher = ReasoningDispatcher(calls, lambda req, res: 1 / 0, max_in_flight=1)
    dispatcher.submit(request("person_1"))
    dispatcher.submit(request("person_2"))
    calls.answer(0)
    assert len(calls.sent) == 2


def test_close_cancels_outstanding_and_forgets_queued():
    calls = Calls()
    dispatcher, results = make(calls, max_in_flight=1)
    dispatcher.submit(request("person_1"))
    dispatcher.submit(request("person_2"))
    dispatcher.close()
    assert calls.sent[0][1].cancelled() and dispatcher.queued == 0 and results == []


@pytest.mark.parametrize("bounds", [(0, 1), (1, -1)])
def test_bad_bounds_are_refused(bounds):
    with pytest.raises(ValueError):
        ReasoningDispatcher(lambda r: ReasonResult(True), lambda q, r: None, max_in_flight=bounds[0],
                            max_queued=bounds[1])


def test_offline_runner_with_a_worker_thread():
    """The offline pattern: the backend runs in the worker's thread, submit() returns at once."""
    backend = FakeVlmBackend([lambda req: GOOD % req.trigger.actor_id], delay_s=0.05)
    worker = BackendWorker(backend, timeout_s=5.0)
    done = threading.Event()
    results = []

    def on_result(req, res):
        results.append(res)
        if len(results) == 3:
            done.set()

    dispatcher = ReasoningDispatcher(worker.submit, on_result, max_in_flight=1, max_queued=4)
    for actor in ("person_1", "person_2", "person_3"):
        dispatcher.submit(request(actor))
    assert len(results) < 3  # submit returned before the answers
    assert done.wait(5.0)
    assert [r.events[0].actor_id for r in results] == ["person_1", "person_2", "person_3"]
    assert dispatcher.status().requests == 3
    worker.close()


def test_worker_deadline_turns_a_hung_backend_into_timeouts():
    backend = FakeVlmBackend([GOOD % "person_1"], delay_s=1.0)
    worker = BackendWorker(backend, timeout_s=0.2)
    first = worker.reason(request("person_1"))
    second = worker.reason(request("person_1"))  # queued behind the hung one, then given up: never runs
    assert error_kind(first) == error_kind(second) == ERROR_TIMEOUT
    late = worker.reason(request("person_1"), timeout_s=5.0)  # the model recovers
    assert late.success and len(backend.requests) == 2
    worker.close()


def test_worker_turns_a_raising_backend_into_a_failure():
    class Exploding:
        name = "exploding"

        def reason(self, req):
            raise MemoryError("CUDA out of memory")

    result = BackendWorker(Exploding(), 1.0).reason(request("person_1"))
    assert not result.success and "MemoryError" in result.error and error_kind(result) == "backend"
