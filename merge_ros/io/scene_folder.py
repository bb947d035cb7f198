"""A GROUND-format scene folder: images/<stamp>.jpg, object_images/, person_images/, ground_truth.json.

Synthetic scenes use the same layout plus annotations.jsonl (merge_ros.io.annotations) and robot_images/.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from merge_ros.types import EntityKind

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class NotASceneError(ValueError):
    """The folder is not a GROUND-format scene; the text says what is missing."""


@dataclass(frozen=True)
class SceneFolder:
    root: Path

    @classmethod
    def open(cls, root: Path | str) -> SceneFolder:
        root = Path(root)
        if not root.is_dir():
            raise NotASceneError(f"{root}: not a directory")
        scene = cls(root)
        if not scene.frames():
            raise NotASceneError(f"{root}: no frames (expected images/<stamp>.jpg)")
        return scene

    @property
    def name(self) -> str:
        return self.root.name

    def frames(self) -> list[tuple[float, Path]]:
        """(stamp in seconds, path) of every frame, in time order; files whose stem is no number are skipped."""
        out = []
        for path in _images(self.root / "images"):
            try:
                out.append((float(path.stem), path))
            except ValueError:
                continue
        return sorted(out)

    def object_images(self) -> dict[str, Path]:
        """Reference image of each known object instance, by ID (the file stem)."""
        return {p.stem: p for p in _images(self.root / "object_images")}

    def person_images(self) -> dict[str, Path]:
        return {p.stem: p for p in _images(self.root / "person_images")}

    def robot_images(self) -> dict[str, Path]:
        return {p.stem: p for p in _images(self.root / "robot_images")}

    def references(self, kinds: tuple[EntityKind, ...] = tuple(EntityKind)
                   ) -> Iterator[tuple[EntityKind, str, np.ndarray]]:
        """(kind, ID, BGR image) of every reference image of the given kinds: the one loader of the registered
        instances, for the identity gallery and the prompt's reference crops alike. An unreadable image is
        logged and skipped."""
        folders = {EntityKind.OBJECT: self.object_images, EntityKind.PERSON: self.person_images,
                   EntityKind.ROBOT: self.robot_images}
        for kind in kinds:
            for instance_id, path in folders[kind]().items():
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None or not image.size:
                    log.warning("%s: unreadable reference image, %s skipped", path, instance_id)
                    continue
                yield kind, instance_id, image

    @property
    def ground_truth_path(self) -> Path:
        return self.root / "ground_truth.json"

    def ground_truth(self) -> dict:
        if not self.ground_truth_path.is_file():
            raise NotASceneError(f"{self.root}: no ground_truth.json")
        return json.loads(self.ground_truth_path.read_text())

    @property
    def annotations_path(self) -> Path:
        return self.root / "annotations.jsonl"


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
