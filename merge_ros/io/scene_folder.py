"""A GROUND-format scene folder: images/<stamp>.jpg, object_images/, person_images/, ground_truth.json.

Synthetic scenes use the same layout plus annotations.jsonl (merge_ros.io.annotations) and robot_images/, and,
when they have depth, depth/<stamp>.png (16UC1 PNG, millimetres, 0 = no reading, aligned to the colour frame of
the same stamp) and camera_info.yaml (the colour camera's calibration in the ROS calibration format that
camera_calibration_parsers and camera_info_manager read; the depth images share it).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from merge_ros.perception.depth import CameraModel, DepthError
from merge_ros.types import EntityKind

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
DEPTH_FOLDER = "depth"
CAMERA_INFO_FILE = "camera_info.yaml"


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

    def depth_frames(self) -> dict[float, Path]:
        """Depth image of each frame that has one, by stamp (seconds, as frames() gives it)."""
        out = {}
        for path in _images(self.root / DEPTH_FOLDER):
            try:
                out[float(path.stem)] = path
            except ValueError:
                continue
        return out

    @property
    def camera_info_path(self) -> Path:
        return self.root / CAMERA_INFO_FILE

    def camera_model(self, frame_id: str = "") -> CameraModel | None:
        """The frames' camera from camera_info.yaml, None when the scene has none; NotASceneError if unreadable."""
        if not self.camera_info_path.is_file():
            return None
        try:
            return CameraModel.from_calibration(yaml.safe_load(self.camera_info_path.read_text()) or {}, frame_id)
        except (yaml.YAMLError, DepthError) as exc:
            raise NotASceneError(f"{self.camera_info_path}: {exc}") from exc

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
