"""The event stage without ROS: change detection, guided requests and the candidates they lead to.

event_node is this stage plus topics (call = the `reason` service, outputs published); an offline runner is this
stage with call = a backend (synchronous, or a BackendWorker's submit) and outputs collected. With a synchronous
call the same input gives the same triggers and candidates in the same order, live or offline.

Per entity frame: the detector's triggers go to on_trigger; perception's candidate for a trigger goes to
on_candidate at once, carrying the trigger's ID only when the VLM is asked about it (grounding then waits for
the answer); a trigger worth reasoning becomes a request through the bounded dispatcher; the answer's events go
to on_candidate when it arrives, except one the same source already gave for the same stamp (the `none` backend
repeating perception), while a VLM agreeing with perception does go out: for grounding that is a confirmation.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from merge_ros.events import ChangeDetector
from merge_ros.reasoning.dispatcher import ReasoningDispatcher
from merge_ros.reasoning.parse import trigger_id
from merge_ros.reasoning.prompt import RequestBuilder
from merge_ros.reasoning.status import ERROR_UNAVAILABLE, failure
from merge_ros.types import EntityFrame, Event, ReasoningStatus, ReasonRequest, ReasonResult, Trigger

log = logging.getLogger(__name__)

# How many published (stamp, source, relation) keys are remembered to keep an answer from repeating itself.
PUBLISHED_MEMORY = 1024


class EventStage:
    def __init__(self, detector: ChangeDetector, builder: RequestBuilder, call: Callable[[ReasonRequest], Any], *,
                 on_trigger: Callable[[Trigger], None], on_candidate: Callable[[Event], None],
                 use_vlm: bool = True, ready: Callable[[], bool] = lambda: True, max_in_flight: int = 2,
                 max_queued: int = 4, timeout_s: float | None = None,
                 decode: Callable[[Any], ReasonResult] | None = None,
                 on_problem: Callable[[str], None] = log.warning) -> None:
        """call starts a request (see ReasoningDispatcher); ready says whether it can reach a VLM now."""
        self.detector = detector
        self.builder = builder
        self.use_vlm = use_vlm
        self._call = call
        self._ready = ready
        self._on_trigger = on_trigger
        self._on_candidate = on_candidate
        self._on_problem = on_problem
        self.dispatcher = ReasoningDispatcher(self._start, self._on_result, max_in_flight=max_in_flight,
                                              max_queued=max_queued, timeout_s=timeout_s, decode=decode)
        self._published: OrderedDict[tuple, None] = OrderedDict()
        self._published_lock = threading.Lock()  # answers may arrive on another thread than frames

    def add_frame(self, stamp_ns: int, image: np.ndarray) -> None:
        self.builder.add_frame(stamp_ns, image)

    def update(self, frame: EntityFrame) -> list[Trigger]:
        """Process one entity frame (in stamp order); return its triggers, already handed to on_trigger."""
        self.builder.observe(frame)
        triggers = self.detector.update(frame)
        for trigger in triggers:
            self._handle(trigger, frame)
        return triggers

    def status(self, stamp_ns: int = 0) -> ReasoningStatus:
        return self.dispatcher.status(stamp_ns)

    def expire(self) -> int:
        return self.dispatcher.expire()

    def close(self) -> None:
        self.dispatcher.close()

    def _handle(self, trigger: Trigger, frame: EntityFrame) -> None:
        self._on_trigger(trigger)
        request = self._request_for(trigger, frame)
        candidate = self.detector.candidate_event(trigger)
        if candidate is not None:
            if request is not None and self._ready():
                candidate.trigger_id = trigger_id(trigger)
            self._publish(candidate)
        if request is not None:
            self.dispatcher.submit(request)

    def _request_for(self, trigger: Trigger, frame: EntityFrame) -> ReasonRequest | None:
        """The VLM request for trigger, or None when it needs none (or no camera frame is there: dropped)."""
        if not (self.use_vlm and self.detector.needs_reasoning(trigger)):
            return None
        request = self.builder.build(trigger, frame, self._readings(trigger))
        if request is None:
            self.dispatcher.counters.dropped()
            self._on_problem("no camera frame buffered: VLM request dropped (is the image topic connected?)")
        return request

    def _readings(self, trigger: Trigger) -> dict[str, Trigger]:
        """What perception thinks every present actor does now (hold / pour / idle, and what it holds)."""
        held = self.detector.held_objects()
        return {actor: Trigger(trigger.stamp_ns, trigger.frame_id, actor, "state", action, held.get(actor, [""])[0])
                for actor, action in self.detector.tentative_actions().items()}

    def _start(self, request: ReasonRequest) -> Any:
        if not self._ready():
            return failure(ERROR_UNAVAILABLE, "no VLM to ask (is vlm_node running?)")
        return self._call(request)

    def _on_result(self, request: ReasonRequest, result: ReasonResult) -> None:
        if not result.success:
            self._on_problem(f"reasoning for {request.trigger.actor_id} failed: {result.error}")
        for event in result.events:
            self._publish(event)

    def _publish(self, event: Event) -> None:
        key = (event.stamp_ns, event.source, event.key())
        with self._published_lock:
            if key in self._published:
                return
            self._published[key] = None
            while len(self._published) > PUBLISHED_MEMORY:
                self._published.popitem(last=False)
        self._on_candidate(event)
