"""event_node's parameters, and the event stage built from them (for the node and the offline pipeline alike)."""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from merge_ros.events import ChangeDetector, ChangeDetectorConfig
from merge_ros.params import Param, from_dataclass, subset
from merge_ros.reasoning.prompt import PromptConfig, RequestBuilder
from merge_ros.reasoning.stage import EventStage
from merge_ros.types import Event, ReasonRequest, ReasonResult, Trigger

log = logging.getLogger(__name__)

_PROMPT = PromptConfig()
STAGE_PARAMETERS: dict[str, Param] = {
    "use_vlm": Param(True, "send triggers worth reasoning to the `reason` service (false: perception only)"),
    "frames": Param(_PROMPT.frames, "camera frames per VLM request (the last N, oldest first)", 1, 16),
    "frame_interval_s": Param(_PROMPT.frame_interval_s, "least time between the frames of a request, so they "
                                                        "span the action rather than a few milliseconds", 0.0, 10.0),
    "max_side": Param(_PROMPT.max_side, "longest side in pixels of the frames sent to the VLM", 64, 4096),
    "crop_max_side": Param(_PROMPT.crop_max_side, "longest side in pixels of object and actor crops", 32, 4096),
    "crop_margin": Param(_PROMPT.crop_margin, "actor crops grow by this fraction of the box on each side (hands, "
                                              "the objects next to them)", 0.0, 2.0),
    "max_objects": Param(_PROMPT.max_objects, "most object instances (reference crops) per request, nearest the "
                                              "actor first", 0, 64),
    "sync_tolerance_s": Param(_PROMPT.sync_tolerance_s, "a camera frame matches an entity frame when their header "
                                                        "stamps differ by at most this", 0.0, 5.0),
    "buffer_frames": Param(_PROMPT.buffer_frames, "camera frames kept for requests (enough to cover frames x "
                                                  "frame_interval_s at the camera rate)", 1, 1000),
    "max_in_flight": Param(2, "most VLM requests outstanding at once", 1, 64),
    "max_queued": Param(4, "most requests waiting (one per actor); beyond, the oldest is dropped", 0, 256),
    "request_timeout_s": Param(150.0, "an outstanding request is given up (counted as a timeout) after this; "
                                      "keep it above vlm_node's deadline", 0.1, 3600.0),
    "scene_dir": Param("", "GROUND-format folder whose object_images/<id>.jpg are the reference crops of the known "
                           "object instances ('' = crops of each object when first seen)"),
    "compressed": Param(False, "subscribe to image/compressed (CompressedImage) instead of image"),
    "status_period_s": Param(1.0, "period of reasoning_status publishing and of giving up late requests",
                             0.05, 60.0),
}


def _detector_param(f: dataclasses.Field) -> Param:
    """A ChangeDetectorConfig field as a parameter, described by the field's own docstring."""
    default = getattr(ChangeDetectorConfig, f.name)
    low, high = None, None
    if isinstance(default, float):
        low, high = 0.0, (1.0 if f.name.endswith("confidence") else math.inf)
    elif isinstance(default, int) and not isinstance(default, bool):
        low, high = 1, 1000
    return Param(default, _DOCS.get(f.name, f.name), low, high)


_DOCS = ChangeDetectorConfig.field_docs()
DETECTOR_PARAMETERS: dict[str, Param] = from_dataclass(ChangeDetectorConfig, _detector_param)
EVENT_PARAMETERS: dict[str, Param] = {**DETECTOR_PARAMETERS, **STAGE_PARAMETERS}


def build_stage(values: Mapping[str, Any], call: Callable[[ReasonRequest], Any], *,
                on_trigger: Callable[[Trigger], None], on_candidate: Callable[[Event], None],
                ready: Callable[[], bool] = lambda: True, decode: Callable[[Any], ReasonResult] | None = None,
                on_problem: Callable[[str], None] = log.warning) -> EventStage:
    """The event stage from event_node's resolved parameters; call starts a request (see EventStage)."""
    builder = RequestBuilder(PromptConfig(**subset(values, PromptConfig)))
    if values["scene_dir"]:
        loaded = builder.load_references(values["scene_dir"])
        log.info("%d object reference images from %s", len(loaded), values["scene_dir"])
    return EventStage(
        ChangeDetector(ChangeDetectorConfig(**{k: values[k] for k in DETECTOR_PARAMETERS})), builder, call,
        on_trigger=on_trigger, on_candidate=on_candidate, use_vlm=values["use_vlm"], ready=ready,
        max_in_flight=values["max_in_flight"], max_queued=values["max_queued"],
        timeout_s=values["request_timeout_s"], decode=decode, on_problem=on_problem)
