"""The whole graph without ROS: perception -> event stage -> VLM backend -> grounding, frame by frame.

Every core is built by the same build function from the same resolved parameter table as its node, and the
cores are connected as the nodes are: a frame's entities go to the event stage, and grounding takes the stage's
steps (merge_ros.types.StageStep) in order, exactly as grounding_node takes them from event_node. The VLM is
called synchronously, so a run is deterministic and as fast as the CPU allows: the path for evaluation and
benchmarks, and the reference the live graph is tested against.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merge_ros.config import load_config, node_parameters
from merge_ros.events.parameters import build_stage
from merge_ros.grounding.parameters import build_world
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.params import config_of, resolve
from merge_ros.perception.depth import CameraModel, DepthError, DepthFrame
from merge_ros.perception.parameters import DepthInputConfig, build_pipeline
from merge_ros.reasoning.parameters import build_backend
from merge_ros.topics import CAMERA_FRAME
from merge_ros.types import EntityFrame, Event, StageStep, Trigger, seconds_to_ns

log = logging.getLogger(__name__)

Sections = Mapping[str, Mapping[str, Any]]


def merged_sections(config: Path | str | None, overrides: Sections | None = None) -> dict[str, dict[str, Any]]:
    """The parameter file's node sections with overrides on top (what `merge-ros run -p` would set)."""
    sections = load_config(config)
    for node, values in (overrides or {}).items():
        sections.setdefault(node, {}).update(values)
    return sections


class OfflineGraph:
    def __init__(self, sections: Sections, on_event: Callable[[Event], None] = lambda e: None):
        tables = node_parameters()

        def values(node: str) -> dict[str, Any]:
            return resolve(tables[node], sections.get(node), node)

        perception = values("perception_node")
        self.perception = build_pipeline(perception)
        self.use_depth = config_of(DepthInputConfig, perception).use_depth
        self.backend = build_backend(values("vlm_node"))
        self.world = build_world(values("grounding_node"))
        self.triggers: list[Trigger] = []
        self.events: list[Event] = []
        self._on_event = on_event
        self.stage = build_stage(values("event_node"), self.backend.reason, on_step=self._step,
                                 on_trigger=self.triggers.append)

    def process(self, frame: np.ndarray, stamp_ns: int, frame_id: str = CAMERA_FRAME, depth: DepthFrame | None = None,
                camera: CameraModel | None = None) -> EntityFrame:
        """One frame through every core; depth and camera, the frame's aligned depth image and its camera model,
        as perception_node gets them with use_depth."""
        entities = self.perception.process(frame, stamp_ns, frame_id, depth, camera)
        self.stage.add_frame(stamp_ns, frame)
        self.stage.update(entities)
        return entities

    def finish(self) -> list[Event]:
        """Confirm what is still pending at the end of the stream; return every confirmed event."""
        self._confirmed(self.world.finish())
        self.stage.close()
        self.world.close()
        return self.events

    def _step(self, step: StageStep) -> None:
        self._confirmed(self.world.step(step))

    def _confirmed(self, events: list[Event]) -> None:
        for event in events:
            self.events.append(event)
            self._on_event(event)


def run_scene(scene: SceneFolder, sections: Sections, on_event: Callable[[Event], None] = lambda e: None
              ) -> list[Event]:
    """Every frame of a scene folder through the offline graph, in time order (unreadable frames are logged,
    counted and skipped); with perception_node's use_depth, with their depth images (scene_frames)."""
    graph = OfflineGraph(sections, on_event)
    for frame, stamp_ns, depth, camera in scene_frames(scene, graph.use_depth):
        graph.process(frame, stamp_ns, CAMERA_FRAME, depth, camera)
    return graph.finish()


def scene_frames(scene: SceneFolder, use_depth: bool
                 ) -> Iterator[tuple[np.ndarray, int, DepthFrame | None, CameraModel | None]]:
    """(BGR frame, stamp, depth, camera) of every readable frame in time order. With use_depth, the scene's depth
    image of the frame and its camera model where it has them (as a replay of its recording brings them to
    perception_node), else None and None."""
    camera = scene.camera_model(CAMERA_FRAME) if use_depth else None
    depth_paths = scene.depth_frames() if camera is not None else {}
    unreadable = 0
    for stamp, path in scene.frames():
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            unreadable += 1
            log.warning("skipping unreadable frame %s (%d so far)", path, unreadable)
            continue
        stamp_ns = seconds_to_ns(stamp)
        depth = read_depth(depth_paths[stamp], stamp_ns) if stamp in depth_paths else None
        yield frame, stamp_ns, depth, camera if depth is not None else None


def read_depth(path: Path, stamp_ns: int) -> DepthFrame | None:
    """A scene's depth image (16-bit PNG, millimetres) as perception_node receives it; None, logged, if unusable
    (the frame then goes without depth, as a bad depth image does live)."""
    values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    try:
        if values is None:
            raise DepthError("not readable as an image")
        return DepthFrame.from_array(values, "16UC1", stamp_ns, CAMERA_FRAME)
    except DepthError as exc:
        log.warning("depth image %s skipped: %s", path, exc)
        return None
