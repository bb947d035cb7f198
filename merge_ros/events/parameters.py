"""event_node's parameter table, and the event stage built from its resolved values (node and offline alike)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from merge_ros.events.change_detector import ChangeDetector
from merge_ros.events.config import ChangeDetectorConfig
from merge_ros.events.stage import EventStage, StageConfig
from merge_ros.params import Param, check_fields, config_of, param, table
from merge_ros.reasoning.prompt import PromptConfig, RequestBuilder
from merge_ros.topics import CameraInput
from merge_ros.types import Event, ReasonRequest, ReasonResult, StageStep, Trigger

log = logging.getLogger(__name__)


@dataclass
class EventNodeConfig:
    """event_node's own settings beside the stage's."""

    scene_dir: str = param("", "GROUND-format folder whose object_images/<id>.jpg are the reference crops of the "
                               "known object instances ('' = crops of each object when first seen)")
    status_period_s: float = param(1.0, "period of reasoning_status publishing and of giving up late requests",
                                   0.05, 60.0)

    def __post_init__(self) -> None:
        check_fields(self)


EVENT_PARAMETERS: dict[str, Param] = table(ChangeDetectorConfig, PromptConfig, StageConfig, EventNodeConfig,
                                           CameraInput)


def build_stage(values: Mapping[str, Any], call: Callable[[ReasonRequest], Any], *,
                on_step: Callable[[StageStep], None], on_trigger: Callable[[Trigger], None] = lambda t: None,
                on_candidate: Callable[[Event], None] = lambda e: None, ready: Callable[[], bool] = lambda: True,
                decode: Callable[[Any], ReasonResult] | None = None,
                on_problem: Callable[[str], None] = log.warning) -> EventStage:
    """The event stage from event_node's resolved values (merge_ros.params.resolve of EVENT_PARAMETERS); call
    starts a request (see EventStage)."""
    builder = RequestBuilder(config_of(PromptConfig, values))
    scene_dir = config_of(EventNodeConfig, values).scene_dir
    if scene_dir:
        loaded = builder.load_references(scene_dir)
        log.info("%d object reference images from %s", len(loaded), scene_dir)
    return EventStage(ChangeDetector(config_of(ChangeDetectorConfig, values)), builder, call,
                      config_of(StageConfig, values), on_step=on_step, on_trigger=on_trigger,
                      on_candidate=on_candidate, ready=ready, decode=decode, on_problem=on_problem)
