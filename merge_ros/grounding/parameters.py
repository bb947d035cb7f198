"""grounding_node's parameter table, and the world model (with its journal) built from its resolved values."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from merge_ros.grounding.journal import Journal, JournalError
from merge_ros.grounding.world_model import GroundingConfig, WorldModel
from merge_ros.params import Param, check_fields, config_of, param, table
from merge_ros.topics import CameraInput

log = logging.getLogger(__name__)


@dataclass
class JournalConfig:
    journal_path: str = param("", "JSON-lines journal to restore from and append confirmed events to ('' = none)")
    journal_fsync: bool = param(False, "fsync the journal after each event (survives power loss, not only a crash)")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class GroundingNodeConfig:
    """grounding_node's own settings: its clock between steps and what it publishes for display."""

    stream_idle_s: float = param(
        2.0, "wall seconds without a stage step after which the stream counts as ended (a bag played out, a "
        "camera gone): every pending candidate is confirmed then, as the offline path does at its end", 0.1, 3600.0)
    scene_rate_hz: float = param(2.0, "rate of scene and marker republishing (besides on every change)", 0.1, 100.0)
    debug_image: bool = param(True, "subscribe to the camera and publish the annotated debug_image")
    debug_image_always: bool = param(False, "draw the debug image even when nobody subscribes (e.g. to record it)")
    marker_scale: float = param(0.001, "metres per image pixel of the markers: (u, v) -> (u * scale, -v * scale, 0)",
                                1e-6, 1.0)
    marker_frame: str = param("camera", "frame_id of the markers (the fixed frame of config/merge.rviz)")
    recent_events: int = param(8, "how many of the latest events the markers and the debug image list", 0, 100)

    def __post_init__(self) -> None:
        check_fields(self)


GROUNDING_PARAMETERS: dict[str, Param] = table(GroundingConfig, JournalConfig, GroundingNodeConfig, CameraInput)


def build_world(values: Mapping[str, Any], on_error: Callable[[str], None] = log.error) -> WorldModel:
    """The world model from grounding_node's resolved values, restored from and journalling to journal_path.

    A journal that cannot be read is never overwritten: the model then runs without one, and on_error says so.
    """
    journal = None
    settings = config_of(JournalConfig, values)
    if settings.journal_path:
        try:
            journal = Journal(settings.journal_path, settings.journal_fsync)
        except JournalError as exc:
            on_error(f"{exc}; running WITHOUT a journal (fix or move the file and restart)")
    return WorldModel(config_of(GroundingConfig, values), journal)
