"""The event stage without ROS: change detection, guided requests and the candidates they lead to.

event_node is this stage plus topics (call = the `reason` service, outputs published); an offline runner is this
stage with call = a backend (synchronous, or a BackendWorker's submit) and outputs collected. With a synchronous
call the same input gives the same triggers and candidates in the same order, live or offline.

Per entity frame: the detector's triggers go to on_trigger; perception's candidate for a trigger is proposed at
once, carrying the trigger's ID only when the VLM is asked about it (grounding then waits for the answer); a
trigger worth reasoning becomes a request through the bounded dispatcher; the answer's events are proposed when it
arrives, except one the same source already gave for the same stamp (the `none` backend repeating perception),
while a VLM agreeing with perception does go out: for grounding that is a confirmation.

Every proposed candidate goes to on_candidate (for observers), and the stage's output proper is a stream of
StageSteps to on_step, in the order the stage produced them: one per entity frame, holding the frame and the
candidates it led to (an answer given synchronously, as offline, is among them), and one per answer that arrives
between frames (asynchronously, from vlm_node). Grounding consumes exactly this stream, live and offline alike, so
a frame can never overtake the candidates before it.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from merge_ros.events.change_detector import ChangeDetector
from merge_ros.params import check_fields, param
from merge_ros.reasoning.dispatcher import ReasoningDispatcher
from merge_ros.reasoning.parse import trigger_id
from merge_ros.reasoning.prompt import RequestBuilder
from merge_ros.reasoning.status import ERROR_UNAVAILABLE, failure
from merge_ros.types import EntityFrame, Event, ReasoningStatus, ReasonRequest, ReasonResult, StageStep, Trigger

log = logging.getLogger(__name__)

# How many published (stamp, source, relation) keys are remembered to keep an answer from repeating itself.
PUBLISHED_MEMORY = 1024


@dataclass
class StageConfig:
    """How the stage asks the VLM (each field is a parameter of event_node)."""

    use_vlm: bool = param(True, "send triggers worth reasoning to the `reason` service (false: perception only)")
    max_in_flight: int = param(2, "most VLM requests outstanding at once", 1, 64)
    max_queued: int = param(4, "most requests waiting (one per actor); beyond, the oldest is dropped", 0, 256)
    request_timeout_s: float = param(
        150.0, "an outstanding request is given up (counted as a timeout) after this; keep it above vlm_node's "
        "deadline", 0.1, 3600.0)

    def __post_init__(self) -> None:
        check_fields(self)


def _ignore(_: Any) -> None:
    return None


class EventStage:
    def __init__(self, detector: ChangeDetector, builder: RequestBuilder, call: Callable[[ReasonRequest], Any],
                 config: StageConfig | None = None, *, on_step: Callable[[StageStep], None],
                 on_trigger: Callable[[Trigger], None] = _ignore, on_candidate: Callable[[Event], None] = _ignore,
                 ready: Callable[[], bool] = lambda: True, decode: Callable[[Any], ReasonResult] | None = None,
                 on_problem: Callable[[str], None] = log.warning) -> None:
        """call starts a request (see ReasoningDispatcher); ready says whether it can reach a VLM now."""
        self.config = config or StageConfig()
        self.detector = detector
        self.builder = builder
        self._call = call
        self._ready = ready
        self._on_step = on_step
        self._on_trigger = on_trigger
        self._on_candidate = on_candidate
        self._on_problem = on_problem
        self.dispatcher = ReasoningDispatcher(self._start, self._on_result, max_in_flight=self.config.max_in_flight,
                                              max_queued=self.config.max_queued,
                                              timeout_s=self.config.request_timeout_s, decode=decode)
        self._published: OrderedDict[tuple, None] = OrderedDict()
        # Answers may arrive on another thread than frames: one step is built at a time, in the frame's thread.
        self._step_lock = threading.RLock()
        self._step: list[Event] | None = None  # the candidates of the frame step being built
        self._last_frame: tuple[int, str] = (0, "")

    def add_frame(self, stamp_ns: int, image: np.ndarray) -> None:
        self.builder.add_frame(stamp_ns, image)

    def update(self, frame: EntityFrame) -> list[Trigger]:
        """Process one entity frame (in stamp order) into one step; return its triggers (already handed to
        on_trigger)."""
        with self._step_lock:
            self._step = []
            try:
                self.builder.observe(frame)
                triggers = self.detector.update(frame)
                for trigger in triggers:
                    self._handle(trigger, frame)
            finally:
                candidates, self._step = self._step, None
            self._last_frame = (frame.stamp_ns, frame.frame_id)
            self._on_step(StageStep(frame.stamp_ns, frame.frame_id, frame, candidates))
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
        if not (self.config.use_vlm and self.detector.needs_reasoning(trigger)):
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
        """Propose a candidate: into the frame step being built, or (an answer between frames) as a step of its
        own."""
        key = (event.stamp_ns, event.source, event.key())
        with self._step_lock:
            if key in self._published:
                return
            self._published[key] = None
            while len(self._published) > PUBLISHED_MEMORY:
                self._published.popitem(last=False)
            self._on_candidate(event)
            if self._step is not None:
                self._step.append(event)
            else:
                self._on_step(StageStep(*self._last_frame, None, [event]))
