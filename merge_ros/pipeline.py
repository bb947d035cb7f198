"""The whole graph without ROS: perception -> event stage -> VLM backend -> grounding, frame by frame.

It builds every core from the same parameter tables and the same config sections as the nodes do, and feeds
them in the order the graph does: a frame's entities go to grounding and to the event stage, the stage's
candidates go to grounding, and grounding confirms what has stood long enough. The VLM is called synchronously,
so a run is deterministic and as fast as the CPU allows; this is the path for evaluation and benchmarks.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merge_ros.config import load_config
from merge_ros.grounding import Journal, WorldModel
from merge_ros.grounding.parameters import GROUNDING_PARAMETERS, config_from_params
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.params import resolve
from merge_ros.perception.factory import build_pipeline
from merge_ros.reasoning.backends.parameters import VLM_PARAMETERS, backend_from_params
from merge_ros.reasoning.event_parameters import EVENT_PARAMETERS, build_stage
from merge_ros.types import EntityFrame, Event, Trigger, seconds_to_ns

log = logging.getLogger(__name__)

Sections = Mapping[str, Mapping[str, Any]]


def merged_sections(config: Path | str | None, overrides: Sections | None = None) -> dict[str, dict[str, Any]]:
    """The parameter file's node sections with overrides on top (what `merge-ros run -p` would set)."""
    sections = load_config(config)
    for node, values in (overrides or {}).items():
        sections.setdefault(node, {}).update(values)
    return sections


class OfflinePipeline:
    def __init__(self, sections: Sections, on_event: Callable[[Event], None] = lambda e: None):
        self.perception = build_pipeline(sections.get("perception_node", {}))
        self.backend = backend_from_params(resolve(VLM_PARAMETERS, sections.get("vlm_node")))
        grounding = resolve(GROUNDING_PARAMETERS, sections.get("grounding_node"))
        self.journal = Journal(grounding["journal_path"]) if grounding["journal_path"] else None
        self.world = WorldModel(config_from_params(grounding), self.journal)
        self.triggers: list[Trigger] = []
        self.events: list[Event] = []
        self._on_event = on_event
        self.stage = build_stage(resolve(EVENT_PARAMETERS, sections.get("event_node")), self.backend.reason,
                                 on_trigger=self.triggers.append, on_candidate=self._candidate)

    def process(self, frame: np.ndarray, stamp_ns: int, frame_id: str = "camera") -> EntityFrame:
        entities = self.perception.process(frame, stamp_ns, frame_id)
        self.world.observe(entities)
        self.stage.add_frame(stamp_ns, frame)
        self.stage.update(entities)
        self._confirmed(self.world.flush(stamp_ns))
        return entities

    def finish(self) -> list[Event]:
        """Confirm what is still pending at the end of the stream; return every confirmed event."""
        self._confirmed(self.world.finish())
        self.stage.close()
        if self.journal is not None:
            self.journal.close()
        return self.events

    def _candidate(self, event: Event) -> None:
        self._confirmed(self.world.add_candidate(event))

    def _confirmed(self, events: Iterable[Event]) -> None:
        for event in events:
            self.events.append(event)
            self._on_event(event)


def run_scene(scene: SceneFolder, sections: Sections, on_event: Callable[[Event], None] = lambda e: None
              ) -> list[Event]:
    """Every frame of a scene folder through the offline pipeline, in time order (unreadable frames are logged,
    counted and skipped)."""
    pipeline = OfflinePipeline(sections, on_event)
    unreadable = 0
    for stamp, path in scene.frames():
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            unreadable += 1
            log.warning("skipping unreadable frame %s (%d so far)", path, unreadable)
            continue
        pipeline.process(frame, seconds_to_ns(stamp))
    return pipeline.finish()
