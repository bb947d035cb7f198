"""grounding_node's parameters: the GroundingConfig fields (described by the dataclass) and the node's own."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from merge_ros.grounding.world_model import GroundingConfig
from merge_ros.params import Param, from_dataclass, subset


def _config_param(f: dataclasses.Field) -> Param:
    low, high = f.metadata["range"]
    return Param(f.default, f.metadata["description"], low, high)


NODE_PARAMETERS: dict[str, Param] = {
    "journal_path": Param("", "JSON-lines journal to restore from and append confirmed events to ('' = none)"),
    "journal_fsync": Param(False, "fsync the journal after each event (survives power loss, not only a crash)"),
    "scene_rate_hz": Param(2.0, "rate of scene and marker republishing (besides on every change)", 0.1, 100.0),
    "debug_image": Param(True, "subscribe to the camera and publish the annotated debug_image"),
    "debug_image_always": Param(False, "draw the debug image even when nobody subscribes (e.g. to record "
                                       "it)"),
    "compressed": Param(False, "subscribe to image/compressed (CompressedImage) instead of image"),
    "marker_scale": Param(0.001, "metres per image pixel of the markers: (u, v) -> (u * scale, -v * scale, 0)",
                          1e-6, 1.0),
    "marker_frame": Param("camera", "frame_id of the markers (the fixed frame of config/merge.rviz)"),
    "recent_events": Param(8, "how many of the latest events the markers and the debug image list", 0, 100),
}
GROUNDING_PARAMETERS: dict[str, Param] = {**from_dataclass(GroundingConfig, _config_param), **NODE_PARAMETERS}


def config_from_params(values: Mapping[str, Any]) -> GroundingConfig:
    return GroundingConfig(**subset(values, GroundingConfig))
