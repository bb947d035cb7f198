"""The parameter file (config/merge.yaml) as plain dictionaries, for the offline path and the one-process graph.

The file is in ROS 2's params-file form. Sections are keyed `/**/<node_name>` so that they apply under any
namespace; plain `<node_name>` and `/ns/<node_name>` keys are read too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from merge_ros.params import Table
from merge_ros.resources import share_path

NODE_NAMES: tuple[str, ...] = ("perception_node", "event_node", "vlm_node", "grounding_node")


def node_parameters() -> dict[str, Table]:
    """Each node's parameter table, by node name (imported on demand: the tables pull in their cores)."""
    from merge_ros.events.parameters import EVENT_PARAMETERS
    from merge_ros.grounding.parameters import GROUNDING_PARAMETERS
    from merge_ros.perception.parameters import PERCEPTION_PARAMETERS
    from merge_ros.reasoning.parameters import VLM_PARAMETERS

    return {"perception_node": PERCEPTION_PARAMETERS, "event_node": EVENT_PARAMETERS, "vlm_node": VLM_PARAMETERS,
            "grounding_node": GROUNDING_PARAMETERS}


def config_path(path: Path | str | None = None) -> Path:
    """path, or the package's config/merge.yaml when None."""
    return share_path("config", "merge.yaml") if path is None else Path(path)


def load_config(path: Path | str | None = None) -> dict[str, dict[str, Any]]:
    """node name -> {parameter: value}; a missing or malformed file raises ValueError naming it."""
    path = config_path(path)
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read parameter file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"parameter file {path}: expected node sections at the top level")
    out: dict[str, dict[str, Any]] = {}
    for key, section in data.items():
        params = (section or {}).get("ros__parameters") if isinstance(section, dict) else None
        if not isinstance(params, dict):
            raise ValueError(f"parameter file {path}: section {key!r} has no ros__parameters mapping")
        out.setdefault(str(key).rstrip("/").rsplit("/", 1)[-1], {}).update(params)
    return out
