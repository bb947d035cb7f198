"""Evaluating a method's runs: finding scenes, loading whatever form the predictions take, timing, grouping.

A run is what one method produced for one scene: `<scene>/runs/<method>` in GROUND's layout. It may be the
paper's folder of `<stamp>_id_<person>.json` files, a JSON-lines event log (merge_ros.io.event_log), a rosbag2
bag (directory or bare .mcap/.db3) with merge_ros/msg/Event on a topic, or a folder holding such a log or bag.
`processing_time.json` ({"processing_time": seconds, "images": n}) beside the predictions gives the time per image.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merge_ros.evaluation.protocol import (
    PREDICTION_FILE,
    Predictions,
    SceneScore,
    group_scenes,
    load_ground_truth,
    load_prediction_folder,
    predictions_from_events,
    score_scene,
    summarize,
)
from merge_ros.io.event_log import DEFAULT_TOPIC, read_events, read_events_from_bag

LOG = logging.getLogger(__name__)

GROUND_TRUTH = "ground_truth.json"
RUNS = "runs"
PROCESSING_TIME = "processing_time.json"
BAG_SUFFIXES = (".mcap", ".db3")
EVENT_LOG_SUFFIX = ".jsonl"

# The paper's MERGE runs (method names trigger-label*) timed only the VLM; per the README their perception stage
# adds 0.2 s per image.
PAPER_MERGE_PREFIX = "trigger-label"
PAPER_PERCEPTION_S_PER_IMAGE = 0.2


def load_predictions(path: Path | str, topic: str = DEFAULT_TOPIC) -> Predictions:
    """Predictions from any supported run form (see the module docstring); FileNotFoundError/ValueError if none."""
    path = Path(path)
    if path.is_file():
        if path.suffix == EVENT_LOG_SUFFIX:
            return predictions_from_events(read_events(path))
        if path.suffix in BAG_SUFFIXES:
            return predictions_from_events(read_events_from_bag(path, topic))
        raise ValueError(f"{path}: not a prediction source (expected a folder, a {EVENT_LOG_SUFFIX} event log "
                         f"or a rosbag2 {'/'.join(BAG_SUFFIXES)} file)")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such prediction folder or file")
    if (path / "metadata.yaml").is_file():
        return predictions_from_events(read_events_from_bag(path, topic))
    if any(PREDICTION_FILE.match(p.name) for p in path.iterdir()):
        return load_prediction_folder(path)
    inner = sorted(p for p in path.iterdir() if p.suffix == EVENT_LOG_SUFFIX or _is_bag(p))
    if len(inner) > 1:
        raise ValueError(f"{path}: several event logs or bags ({', '.join(p.name for p in inner)}); name one")
    if inner:
        return load_predictions(inner[0], topic)
    return load_prediction_folder(path)  # a run that predicted nothing


def _is_bag(path: Path) -> bool:
    return path.suffix in BAG_SUFFIXES or (path.is_dir() and (path / "metadata.yaml").is_file())


@dataclass(frozen=True)
class Timing:
    """A run's processing time, plus seconds per image its recorded time leaves out (e.g. a perception stage)."""

    seconds: float
    images: int
    extra_per_image: float = 0.0

    @property
    def total_seconds(self) -> float:
        return self.seconds + self.extra_per_image * self.images


def read_timing(run: Path, method: str) -> Timing | None:
    """The run folder's processing_time.json, None if there is none or it is unreadable (logged)."""
    path = run / PROCESSING_TIME
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        seconds, images = float(d["processing_time"]), int(d["images"])
    except (ValueError, KeyError, TypeError) as exc:
        LOG.warning("%s: unreadable, time per image unknown for this scene (%s)", path, exc)
        return None
    if images <= 0:
        LOG.warning("%s: %d images, time per image unknown for this scene", path, images)
        return None
    extra = PAPER_PERCEPTION_S_PER_IMAGE if method.startswith(PAPER_MERGE_PREFIX) else 0.0
    return Timing(seconds, images, extra)


def seconds_per_image(timings: Sequence[Timing | None]) -> float | None:
    """Pooled over the scenes whose time is known: all their seconds over all their images (None if none)."""
    known = [t for t in timings if t is not None]
    images = sum(t.images for t in known)
    return sum(t.total_seconds for t in known) / images if images else None


@dataclass
class SceneResult:
    name: str
    score: SceneScore
    timing: Timing | None = None


@dataclass
class EvaluationResult:
    """The scores of one method over some scenes at one tolerance; `to_json` is `merge-ros evaluate`'s output."""

    method: str
    tolerance: float
    scenes: list[SceneResult] = field(default_factory=list)

    def row(self, scenes: Sequence[SceneResult]) -> dict[str, Any]:
        out = summarize(s.score for s in scenes)
        out["seconds_per_image"] = seconds_per_image([s.timing for s in scenes])
        return out

    @property
    def overall(self) -> dict[str, Any]:
        return self.row(self.scenes)

    def groups(self) -> list[list[SceneResult]]:
        by_name = {s.name: s for s in self.scenes}
        return [[by_name[n] for n in names] for names in group_scenes(by_name)]

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "tolerance": self.tolerance, "overall": self.overall,
            "groups": [{"scenes": [s.name for s in g], **self.row(g)} for g in self.groups()],
            "scenes": [{"scene": s.name, **self.row([s])} for s in self.scenes],
        }


def evaluate_scene(name: str, ground_truth: Path | str, predictions: Path | str, method: str, tolerance: float,
                   topic: str = DEFAULT_TOPIC) -> SceneResult:
    predictions = Path(predictions)
    score = score_scene(load_ground_truth(ground_truth), load_predictions(predictions, topic), tolerance)
    return SceneResult(name, score, read_timing(predictions, method) if predictions.is_dir() else None)


def find_scenes(root: Path | str, method: str) -> list[Path]:
    """Scene folders under root (root itself or its children) with a ground truth and runs/<method>, by name.

    ValueError if there is none, naming the methods that are there.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    candidates = [root] if (root / GROUND_TRUTH).is_file() else sorted(p for p in root.iterdir() if p.is_dir())
    scenes = [p for p in candidates if (p / GROUND_TRUTH).is_file()]
    found = [p for p in scenes if (p / RUNS / method).exists()]
    if not found:
        methods = sorted({r.name for p in scenes if (p / RUNS).is_dir() for r in (p / RUNS).iterdir()})
        raise ValueError(f"{root}: no scene has {RUNS}/{method}; methods present: {', '.join(methods) or 'none'}")
    return found


def evaluate_scenes(root: Path | str, method: str, tolerance: float, topic: str = DEFAULT_TOPIC) -> EvaluationResult:
    scenes = [evaluate_scene(p.name, p / GROUND_TRUTH, p / RUNS / method, method, tolerance, topic)
              for p in find_scenes(root, method)]
    return EvaluationResult(method, tolerance, scenes)
