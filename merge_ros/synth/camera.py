"""The synthetic camera: a pinhole looking across the table at the persons, as in GROUND's recordings.

World frame (metres): x to the camera's right, y away from the camera along the table, z up; the table top is
the plane z = 0 with its near edge at y = 0. Rendering, visibility and the annotations all project through this
one camera, so a box or wrist keypoint in annotations.jsonl is exactly where the drawing put it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from merge_ros.perception.depth import CameraModel


@dataclass(frozen=True)
class Camera:
    width: int = 640
    height: int = 480
    position: tuple[float, float, float] = (0.0, -0.85, 0.90)
    target: tuple[float, float, float] = (0.0, 0.75, 0.22)
    focal_ratio: float = 0.78  # focal length in pixels per pixel of image width (about 65 degrees horizontal)

    @property
    def focal(self) -> float:
        return self.focal_ratio * self.width

    @cached_property
    def axes(self) -> np.ndarray:
        """Rows: camera x (right), y (down), z (forward) in world coordinates."""
        forward = np.subtract(self.target, self.position).astype(float)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, (0.0, 0.0, 1.0))
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        return np.stack([right, down, forward])

    def model(self, frame_id: str = "") -> CameraModel:
        """This camera as a CameraInfo would describe it (the colour camera, which the depth image is aligned to).

        Frames are drawn with OpenCV, whose pixel centres lie at integer coordinates, as in ROS: project()'s
        coordinates are ROS image coordinates and the principal point is (width / 2, height / 2)."""
        f, cx, cy = self.focal, self.width / 2.0, self.height / 2.0
        return CameraModel(self.width, self.height, (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0), (0.0,) * 5, "plumb_bob",
                           frame_id)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=float).reshape(-1, 3)
        return (pts - np.asarray(self.position)) @ self.axes.T

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N x 2) of world points (N x 3); points must lie in front of the camera."""
        cam = self.to_camera(points)
        z = np.maximum(cam[:, 2], 1e-6)
        return np.stack([self.focal * cam[:, 0] / z + self.width / 2.0,
                         self.focal * cam[:, 1] / z + self.height / 2.0], axis=1)

    def depth(self, point: np.ndarray) -> float:
        return float(self.to_camera(point)[0, 2])

    def pixels(self, size_m: float, point: np.ndarray) -> float:
        """Image size in pixels of a length size_m seen face-on at a world point."""
        return self.focal * size_m / max(self.depth(point), 1e-6)

    def plane_homography(self, z: float = 0.0) -> np.ndarray:
        """3x3 map from plane coordinates (x, y) at height z to pixels (for warping the table texture)."""
        src = np.array([[-1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]])
        dst = self.project(np.column_stack([src, np.full(4, z)]))
        return _homography(src, dst)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = vt[-1].reshape(3, 3)
    return h / h[2, 2]
