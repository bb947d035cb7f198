"""The `none` backend: no VLM; the answer is perception's candidate for the trigger, so the graph runs without one.

It answers exactly what the change detector proposes (merge_ros.events.tentative.candidate_event, at the
detector's default confidence), and its events keep source "perception": they carry no VLM judgement, and the
grounding node and an evaluation must be able to tell them from a model's answers. The event node publishes an
answer event only once, so with this backend its candidates are those of perception alone.
"""
from __future__ import annotations

from merge_ros.events.config import ChangeDetectorConfig
from merge_ros.events.tentative import candidate_event
from merge_ros.reasoning.parse import trigger_id
from merge_ros.types import ReasonRequest, ReasonResult


class NoneBackend:
    name = "none"

    def __init__(self, confidence: float = ChangeDetectorConfig.candidate_confidence) -> None:
        self.confidence = confidence

    def reason(self, request: ReasonRequest) -> ReasonResult:
        event = candidate_event(request.trigger, self.confidence)
        if event is None:
            return ReasonResult(True)
        event.trigger_id = trigger_id(request.trigger)
        return ReasonResult(True, "", "", [event])
