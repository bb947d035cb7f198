"""3-D positions of entities from an aligned depth image: where each object, person, hand and gripper is, in metres.

Inputs are what a depth camera driver publishes: the depth image registered to the colour frame (16UC1 in
millimetres or 32FC1 in metres; 0 and NaN mean no reading) and the CameraInfo of that frame (CameraModel: K, D,
size, frame_id). Outputs are points in the camera's optical frame (x right, y down, z forward, metres) on
Entity.position and Keypoint.position; None wherever the depth does not support a position, so that a consumer
never gets a wrong one.

Boxes hold more than their entity: the table and the wall around an object's outline, a person's outstretched arms,
the table and the neighbours inside a person's box. So no box is averaged. For each entity, depth is sampled (on a
fixed grid) in a region where the entity itself is most of what is seen, and the statistic is a *depth mode*: a
window as wide as the sensor's noise (mode_width_m at 1 m, growing with the square of the distance like the noise
of stereo and structured-light sensors) holding a good share of the region's valid samples. Flying pixels and
speckle along outlines are too few to make a mode, and the mode's median ignores them and the holes. Per kind:
- objects: the nearest mode in the central part of the box (an object fills the centre of its box; the outline
  meets the background, which is behind it). The point is the mode's own pixels' mean, at its median depth,
  pushed back along the ray by object_depth_offset of the object's half-width (the box's smaller side at that
  depth): a depth camera sees an object's front, a grasp needs its centre;
- keypoints (wrists, a gripper): the nearest mode in a patch around the keypoint (a forearm; the fingers, which
  stand apart around the grip point), on the keypoint's own ray, pushed back by half a wrist's thickness (less
  for fingers);
- persons: the chest. The top of a person's box is the top of its head: in a band along that edge the nearest
  mode's samples fall into runs of columns; runs cut by the box's sides are neighbours' heads, and among the rest
  the highest, then the one nearest the wrists' middle, is this person's (its width must be a head's). The head
  gives the chest's x and height (chest_below_head_top_m below the head's top, along the camera's y axis); the
  torso there gives its depth: the farthest mode of a window on the chest, no more than torso_behind_head_m behind
  the head, so that an arm across the chest is seen through rather than taken for it;
- robots: their grip point, the gripper keypoint's (a robot knows where its own base is).
Too few valid readings in a region (holes, a box outside the image, a head cut off by the image's top) give None.
The regions of a kind are analysed together for all entities of a frame, so that 50 entities cost a few array
passes (merge-ros bench depth gives the figures).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from merge_ros.params import check_fields, param
from merge_ros.types import Entity, EntityKind, Keypoint, Point3

DEPTH_ENCODINGS = {"16UC1": (np.uint16, 0.001), "mono16": (np.uint16, 0.001), "32FC1": (np.float32, 1.0)}
DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")
GRIPPER = "gripper"   # a robot's keypoint (merge_ros.synth and the detectors name it so)


class DepthError(ValueError):
    """A depth image or camera model that cannot be used; the text says why."""


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera as sensor_msgs/CameraInfo describes it (ROS convention: integer pixel coordinates at pixel
    centres, so cx = (width - 1) / 2 for a centred principal point)."""

    width: int
    height: int
    k: tuple[float, ...]                 # row-major 3x3: fx 0 cx / 0 fy cy / 0 0 1
    d: tuple[float, ...] = ()
    distortion_model: str = "plumb_bob"
    frame_id: str = ""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise DepthError(f"camera size {self.width}x{self.height} is not positive")
        if len(self.k) != 9 or not self.k[0] > 0 or not self.k[4] > 0:
            raise DepthError("K must be 9 numbers with positive fx and fy")
        if any(self.d) and self.distortion_model not in DISTORTION_MODELS:
            raise DepthError(f"distortion model {self.distortion_model!r} is not supported "
                             f"(use one of {', '.join(DISTORTION_MODELS)})")

    @property
    def fx(self) -> float:
        return self.k[0]

    @property
    def fy(self) -> float:
        return self.k[4]

    @property
    def cx(self) -> float:
        return self.k[2]

    @property
    def cy(self) -> float:
        return self.k[5]

    @property
    def r(self) -> tuple[float, ...]:
        """Rectification: identity (the model of an unrectified image_raw, as drivers publish it)."""
        return (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    @property
    def p(self) -> tuple[float, ...]:
        """Projection [K | 0] (row-major 3x4): a monocular camera."""
        k = self.k
        return (*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0)

    def normalized(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x/z and y/z of the rays through image points (u, v) in the boxes' convention (pixel i spans [i, i + 1),
        as detectors and merge_ros.types.Box report them), undistorted."""
        pu, pv = np.asarray(u, dtype=float) - 0.5, np.asarray(v, dtype=float) - 0.5
        if not any(self.d):
            return (pu - self.cx) / self.fx, (pv - self.cy) / self.fy
        pts = np.column_stack([pu.ravel(), pv.ravel()]).reshape(-1, 1, 2)
        k = np.asarray(self.k, dtype=float).reshape(3, 3)
        if self.distortion_model == "equidistant":
            out = cv2.fisheye.undistortPoints(pts, k, np.asarray(self.d[:4], dtype=float))
        else:
            out = cv2.undistortPoints(pts, k, np.asarray(self.d, dtype=float))
        out = out.reshape(-1, 2)
        return out[:, 0].reshape(pu.shape), out[:, 1].reshape(pv.shape)

    # --- the ROS calibration file (camera_calibration_parsers' YAML, as camera_info_manager reads it) ----------

    def to_calibration(self, camera_name: str = "camera") -> dict:
        """The calibration YAML's content (write it with yaml.safe_dump): rectification identity, P = [K | 0]."""
        def matrix(rows: int, values: tuple[float, ...]) -> dict:
            return {"rows": rows, "cols": len(values) // rows, "data": [float(v) for v in values]}

        return {"image_width": int(self.width), "image_height": int(self.height), "camera_name": camera_name,
                "camera_matrix": matrix(3, self.k), "distortion_model": self.distortion_model,
                "distortion_coefficients": matrix(1, self.d), "rectification_matrix": matrix(3, self.r),
                "projection_matrix": matrix(3, self.p)}

    @classmethod
    def from_calibration(cls, data: dict, frame_id: str = "") -> CameraModel:
        """The camera of a calibration YAML's content; the file holds no frame_id, so it is given here."""
        try:
            return cls(int(data["image_width"]), int(data["image_height"]),
                       tuple(float(v) for v in data["camera_matrix"]["data"]),
                       tuple(float(v) for v in (data.get("distortion_coefficients") or {}).get("data", [])),
                       str(data.get("distortion_model", "plumb_bob")), frame_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise DepthError(f"not a camera calibration: {exc!r}") from exc


@dataclass(frozen=True)
class DepthFrame:
    """A depth image registered to the colour frame: `values` times `scale` are metres; 0 or NaN is no reading."""

    values: np.ndarray       # H x W, uint16 (16UC1, scale 0.001) or float32 (32FC1, scale 1.0)
    scale: float
    stamp_ns: int = 0
    frame_id: str = ""

    @classmethod
    def from_array(cls, values: np.ndarray, encoding: str, stamp_ns: int = 0, frame_id: str = "") -> DepthFrame:
        if encoding not in DEPTH_ENCODINGS:
            raise DepthError(f"depth encoding {encoding!r} is not one of {', '.join(DEPTH_ENCODINGS)}")
        dtype, scale = DEPTH_ENCODINGS[encoding]
        values = np.asarray(values)
        if values.ndim != 2 or values.dtype != dtype:
            raise DepthError(f"{encoding} depth must be a 2-D {np.dtype(dtype).name} array, got "
                             f"{values.dtype.name} {values.shape}")
        return cls(values, scale, stamp_ns, frame_id)

    @property
    def encoding(self) -> str:
        """16UC1 or 32FC1 (a mono16 depth image, as some drivers name it, is 16UC1 here)."""
        return "16UC1" if self.values.dtype == np.uint16 else "32FC1"


def check_aligned(frame_size: tuple[int, int], depth: DepthFrame, camera: CameraModel) -> None:
    """DepthError unless the colour frame (height, width), the depth image and the camera have one size: an aligned
    depth image (registered to the colour camera) always has, so another size means another stream or camera."""
    size = (camera.height, camera.width)
    if depth.values.shape != size or tuple(frame_size) != size:
        raise DepthError(f"frame {frame_size[1]}x{frame_size[0]}, depth {depth.values.shape[1]}x"
                         f"{depth.values.shape[0]} and camera {camera.width}x{camera.height} must have the same size "
                         f"(aligned depth)")


@dataclass
class DepthConfig:
    """How positions are read from depth (merge_ros.perception.depth's module docstring says why)."""

    mode_width_m: float = param(0.03, "width of the depth window that makes a mode at 1 m, metres; it grows with "
                                      "the square of the distance as a depth sensor's noise does", 0.001, 1.0)
    mode_share: float = param(0.15, "share of a region's valid samples the nearest mode must hold to count", 0.01,
                              1.0)
    min_valid: int = param(12, "fewest valid depth samples in a region for a position; fewer give none", 1, 10000)
    min_valid_share: float = param(0.2, "smallest share of a region's samples that must be valid readings", 0.0,
                                   1.0)
    object_region: float = param(0.6, "share of an object's box width and height, around its centre, sampled",
                                 0.1, 1.0)
    object_depth_offset: float = param(0.8, "an object's centre lies this share of its half-width behind the "
                                            "surface the camera sees", 0.0, 2.0)
    head_band: float = param(0.06, "share of a person's box height, along its top edge, where the head is looked "
                                   "for", 0.01, 0.5)
    head_share: float = param(0.05, "share of the head band's valid samples the head's depth mode must hold", 0.01,
                              1.0)
    head_min_width_m: float = param(0.04, "narrowest a head's top can be, metres (else it is not a head)", 0.0, 1.0)
    head_max_width_m: float = param(0.3, "widest a head's top can be, metres (else it is not a head)", 0.01, 2.0)
    chest_below_head_top_m: float = param(0.435, "a person's reference point, the chest, lies this far below the top "
                                                "of the head, metres", 0.1, 1.5)
    torso_half_width_m: float = param(0.1, "half-width of the torso window around the head's column, metres", 0.02,
                                      0.5)
    torso_behind_head_m: float = param(0.3, "the torso lies at most this far behind the head, metres", 0.0, 2.0)
    torso_band_m: float = param(0.1, "height of the torso window around the chest, metres", 0.02, 1.0)
    keypoint_patch_px: int = param(7, "half-size of the patch sampled around a wrist keypoint, pixels", 1, 100)
    gripper_patch_px: int = param(16, "half-size of the patch sampled around a gripper keypoint (its fingers are "
                                      "apart), pixels", 1, 200)
    keypoint_share: float = param(0.1, "share of a keypoint patch's valid samples its depth mode must hold", 0.01,
                                  1.0)
    keypoint_depth_offset_m: float = param(0.035, "a wrist's centre lies this far behind its surface, metres",
                                           0.0, 0.5)
    gripper_depth_offset_m: float = param(0.01, "a gripper's grip point lies this far behind the fingers' surface, "
                                                "metres", 0.0, 0.5)
    min_depth_m: float = param(0.1, "readings nearer than this are ignored, metres", 0.0, 100.0)
    max_depth_m: float = param(10.0, "readings farther than this are ignored, metres", 0.1, 1000.0)

    def __post_init__(self) -> None:
        check_fields(self)


# Sampling grids (rows x columns) per kind of region: a region's depth is read at these points only, so a frame
# costs the same whatever the boxes' sizes, and all regions of a kind are read and analysed in one batch.
NEAR_GRID = (12, 12)      # object centres and keypoint patches
HEAD_GRID = (4, 80)       # head bands: wide and low, fine columns to find the head's
TORSO_GRID = (8, 12)
_INVALID_M = 1000.0       # stands for a missing reading among sorted depths
_ROW_OFFSET_M = 4000.0    # separates the regions' sorted depths in one flat array


@dataclass
class _Modes:
    """One depth mode per region of a batch: found, its samples' mean image point (u, v), its median depth z,
    and which grid samples belong to it."""

    found: np.ndarray
    u: np.ndarray
    v: np.ndarray
    z: np.ndarray
    members: np.ndarray

    def take(self, rows: slice) -> _Modes:
        return _Modes(self.found[rows], self.u[rows], self.v[rows], self.z[rows], self.members[rows])


class _Batch:
    """The depth samples of many rectangular regions (x0, y0, x1, y1 in the boxes' convention), read together."""

    def __init__(self, depth: DepthFrame, rects: np.ndarray, grid: tuple[int, int], config: DepthConfig) -> None:
        h, w = depth.values.shape
        gy, gx = grid
        r = np.asarray(rects, dtype=float).reshape(-1, 4)
        n_regions, k = len(r), gy * gx
        lo = np.floor(r[:, :2]).clip(0, (w, h)).astype(np.intp)
        hi = np.ceil(r[:, 2:]).clip(0, (w, h)).astype(np.intp)
        span = hi - lo
        self.cols = np.minimum(lo[:, :1] + (span[:, :1] * ((np.arange(gx) + 0.5) / gx)).astype(np.intp), w - 1)
        self.rows = np.minimum(lo[:, 1:] + (span[:, 1:] * ((np.arange(gy) + 0.5) / gy)).astype(np.intp), h - 1)
        self.grid, self.config = grid, config
        z = depth.values[self.rows[:, :, None], self.cols[:, None, :]].reshape(n_regions, k)
        z = z * np.float32(depth.scale) if z.dtype == np.uint16 else np.nan_to_num(z, nan=0.0, posinf=0.0)
        valid = (z > config.min_depth_m) & (z < config.max_depth_m)
        self.z, self.valid = z, valid
        self.n = np.count_nonzero(valid, axis=1)
        # distinct pixels behind the samples: a region smaller than its grid reads some pixels more than once
        self.distinct = np.minimum(span[:, 0], gx) * np.minimum(span[:, 1], gy)
        self.enough = ((self.distinct > 0) & (self.n * self.distinct >= config.min_valid * k)
                       & (self.n >= config.min_valid_share * k))
        self.sorted = np.sort(np.where(valid, z, np.float32(_INVALID_M)), axis=1)
        self.width = np.minimum(np.float32(config.mode_width_m) * np.maximum(self.sorted, np.float32(0.5)) ** 2,
                                np.float32(10.0))
        # float64: an offset of thousands of metres would leave float32 centimetre steps
        self._flat = (self.sorted + (np.arange(n_regions) * _ROW_OFFSET_M)[:, None]).ravel()
        self._index = np.arange(n_regions * k).reshape(n_regions, k)
        self.in_range = np.arange(k) < self.n[:, None]

    def _need(self, share: float | np.ndarray) -> np.ndarray:
        at_least = np.ceil(self.config.min_valid * self.grid[0] * self.grid[1] / np.maximum(self.distinct, 1))
        return np.maximum(at_least, np.ceil(np.asarray(share) * self.n))[:, None]

    def nearest(self, share: float | np.ndarray) -> _Modes:
        """The nearest depth window (mode width) holding `share` of each region's valid samples."""
        ahead = np.searchsorted(self._flat, self._flat + self.width.ravel(), side="right").reshape(
            self._index.shape) - self._index
        ok = (ahead >= self._need(share)) & self.in_range
        first = np.argmax(ok, axis=1)
        return self._modes(ok.any(axis=1), first, first + ahead[np.arange(len(first)), first] - 1)

    def farthest(self, share: float, limit: np.ndarray) -> _Modes:
        """The farthest such window ending no farther than `limit` (per region, metres)."""
        behind = self._index + 1 - np.searchsorted(self._flat, self._flat - self.width.ravel(), side="left").reshape(
            self._index.shape)
        ok = (behind >= self._need(share)) & self.in_range & (self.sorted <= np.asarray(limit)[:, None])
        last = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
        return self._modes(ok.any(axis=1), last - behind[np.arange(len(last)), last] + 1, last)

    def _modes(self, found: np.ndarray, a: np.ndarray, b: np.ndarray) -> _Modes:
        rows = np.arange(len(a))
        found = found & self.enough
        low, high = self.sorted[rows, a], self.sorted[rows, b]
        z = (self.sorted[rows, (a + b) // 2] + self.sorted[rows, (a + b + 1) // 2]) / 2.0
        members = self.valid & (self.z >= low[:, None]) & (self.z <= high[:, None]) & found[:, None]
        grid = members.reshape(len(a), *self.grid)
        per_col, per_row = grid.sum(axis=1), grid.sum(axis=2)
        count = np.maximum(per_col.sum(axis=1), 1)
        u = (per_col * self.cols).sum(axis=1) / count + 0.5
        v = (per_row * self.rows).sum(axis=1) / count + 0.5
        return _Modes(found, u, v, z.astype(float), members)


class DepthLocator:
    """Fills Entity.position and Keypoint.position from a depth frame (the module docstring gives the method).

    The regions of one kind (object centres, keypoint patches, head bands, torso windows) of all the frame's
    entities are analysed together, so a frame with 50 entities costs a few dozen array operations."""

    def __init__(self, config: DepthConfig | None = None) -> None:
        self.config = config or DepthConfig()

    def locate(self, entities: Iterable[Entity], depth: DepthFrame, camera: CameraModel) -> list[Entity]:
        """Copies of the entities with their positions (None where depth does not support one)."""
        if depth.values.shape != (camera.height, camera.width):
            raise DepthError(f"depth image {depth.values.shape[1]}x{depth.values.shape[0]} does not match the "
                             f"camera's {camera.width}x{camera.height}")
        c = self.config
        out = [_copy(e) for e in entities]
        for e in out:
            e.position = None
        objects = [e for e in out if e.kind == EntityKind.OBJECT]
        refs = [(e, i) for e in out for i in range(len(e.keypoints))]
        persons = [e for e in out if e.kind == EntityKind.PERSON and e.box.y_min > 1.0]  # else the head is cut off
        if objects or refs:         # every object centre and keypoint patch in one batch
            regions = [self._object_regions(objects), self._keypoint_regions([e.keypoints[i] for e, i in refs])]
            modes = _Batch(depth, np.vstack([r for r, _ in regions]), NEAR_GRID, c).nearest(
                np.concatenate([s for _, s in regions]))
            self._place_objects(objects, modes.take(slice(0, len(objects))), camera)
            self._place_keypoints(refs, modes.take(slice(len(objects), None)), camera)
        for e in out:
            if e.kind == EntityKind.ROBOT:   # a robot is where its gripper works (it knows its own base)
                e.position = next((k.position for k in e.keypoints if k.name == GRIPPER and k.position), None)
        if persons:                  # the head bands, then the torsos below the heads found
            rects, shares = self._head_regions(persons)
            batch = _Batch(depth, rects, HEAD_GRID, c)
            self._place_chests(persons, self._heads(persons, batch.nearest(shares), batch.cols, camera), depth,
                               camera)
        return out

    # --- where to look ------------------------------------------------------------------------------------------

    def _object_regions(self, objects: list[Entity]) -> tuple[np.ndarray, np.ndarray]:
        """The central part of each object's box (an object fills its box's centre)."""
        boxes = np.array([e.box.as_list() for e in objects]).reshape(-1, 4)
        centre, size = (boxes[:, :2] + boxes[:, 2:]) / 2.0, boxes[:, 2:] - boxes[:, :2]
        half = np.maximum(size * self.config.object_region / 2.0, 1.5)
        return np.hstack([centre - half, centre + half]), np.full(len(objects), self.config.mode_share)

    def _keypoint_regions(self, keypoints: list[Keypoint]) -> tuple[np.ndarray, np.ndarray]:
        """A patch around each keypoint, wider for a gripper, whose fingers stand apart."""
        c = self.config
        xy = np.array([(k.x, k.y) for k in keypoints]).reshape(-1, 2)
        patch = np.where([k.name == GRIPPER for k in keypoints], c.gripper_patch_px, c.keypoint_patch_px)
        patch = np.asarray(patch, dtype=float).reshape(-1, 1)
        return np.hstack([xy - patch, xy + patch]), np.full(len(keypoints), c.keypoint_share)

    def _head_regions(self, persons: list[Entity]) -> tuple[np.ndarray, np.ndarray]:
        """A band along the top edge of each person's box: the top of a person's box is its head."""
        boxes = np.array([e.box.as_list() for e in persons]).reshape(-1, 4)
        band = np.maximum((boxes[:, 3] - boxes[:, 1]) * self.config.head_band, 4.0)
        return np.column_stack([boxes[:, :3], boxes[:, 1] + band]), np.full(len(persons), self.config.head_share)

    # --- from modes to points -----------------------------------------------------------------------------------

    def _place_objects(self, objects: list[Entity], modes: _Modes, camera: CameraModel) -> None:
        """The nearest mode's own pixels, pushed back along the ray by about half the object's thickness (its
        metric width: a depth camera sees an object's front, a grasp needs its centre)."""
        if not objects:
            return
        size = np.array([(e.box.width, e.box.height) for e in objects])
        thickness = np.minimum(size[:, 0] / camera.fx, size[:, 1] / camera.fy) * modes.z / 2.0
        points = _pushed_back(camera, modes.u, modes.v, modes.z, self.config.object_depth_offset * thickness)
        for e, ok, p in zip(objects, modes.found, points, strict=True):
            e.position = _point(p) if ok else None

    def _place_keypoints(self, refs: list[tuple[Entity, int]], modes: _Modes, camera: CameraModel) -> None:
        """The keypoint's own ray at the nearest surface around it (a limb, the fingers), pushed back to the
        joint's centre."""
        if not refs:
            return
        c = self.config
        kps = [e.keypoints[i] for e, i in refs]
        grip = np.array([k.name == GRIPPER for k in kps])
        points = _pushed_back(camera, np.array([k.x for k in kps]), np.array([k.y for k in kps]), modes.z,
                              np.where(grip, c.gripper_depth_offset_m, c.keypoint_depth_offset_m))
        for e in {id(e): e for e, _ in refs}.values():
            e.keypoints = list(e.keypoints)
        for (e, i), k, ok, p in zip(refs, kps, modes.found, points, strict=True):
            e.keypoints[i] = Keypoint(k.name, k.x, k.y, k.score, _point(p) if ok and k.score > 0 else None)

    def _place_chests(self, persons: list[Entity], heads: np.ndarray, depth: DepthFrame, camera: CameraModel) -> None:
        """The head gives the chest's x and height, the torso there (the second stage) its depth."""
        c = self.config
        found = ~np.isnan(heads[:, 0])
        if not found.any():
            return
        persons = [e for e, ok in zip(persons, found, strict=True) if ok]
        u_head, z_head = heads[found, 0], heads[found, 1]
        top = np.array([e.box.y_min for e in persons])
        x_ratio, top_ratio = camera.normalized(u_head, top)
        x, y = x_ratio * z_head, top_ratio * z_head + c.chest_below_head_top_m
        z_guess = z_head + c.torso_behind_head_m / 2.0       # the window's place hardly depends on it
        u = camera.fx * x / z_guess + camera.cx + 0.5
        v = camera.fy * y / z_guess + camera.cy + 0.5
        half, band = c.torso_half_width_m * camera.fx / z_guess, c.torso_band_m * camera.fy / z_guess / 2.0
        rects = np.column_stack([u - half, v - band, u + half, v + band])
        torso = _Batch(depth, rects, TORSO_GRID, c).farthest(c.mode_share, z_head + c.torso_behind_head_m)
        for e, ok, p in zip(persons, torso.found, np.column_stack([x, y, torso.z]), strict=True):
            e.position = _point(p) if ok else None

    def _heads(self, persons: list[Entity], modes: _Modes, columns: np.ndarray, camera: CameraModel) -> np.ndarray:
        """(column, depth) per person, NaN where no head is found: in the head band the nearest mode's samples
        fall into runs of columns; among runs that do not touch the box's sides (those are neighbours' heads cut
        by this box), the one reaching highest, then the one nearest the wrists' middle (or the box's centre), is
        this person's head. A run too narrow or too wide for a head gives none."""
        c = self.config
        n, (gy, gx) = len(persons), HEAD_GRID
        mask = modes.members.reshape(n, gy, gx)
        filled = mask.any(axis=1)                                     # grid columns with a sample of the mode
        cells = np.flatnonzero(filled)
        out = np.full((n, 2), np.nan)
        if not cells.size:
            return out
        starts = filled & ~np.pad(filled, ((0, 0), (1, 0)))[:, :-1]
        run = (np.cumsum(starts) - 1).ravel()[cells]                  # runs of neighbouring columns, numbered
        owner, column = np.divmod(cells, gx)
        runs = int(run[-1]) + 1
        first, last, top = np.full(runs, gx), np.full(runs, -1), np.full(runs, gy)
        np.minimum.at(first, run, column)
        np.maximum.at(last, run, column)
        np.minimum.at(top, run, np.argmax(mask, axis=1).ravel()[cells])
        centre = np.bincount(run, weights=(columns + 0.5).ravel()[cells]) / np.bincount(run)
        who = np.zeros(runs, np.intp)
        who[run] = owner
        inside = (first > 0) & (last < gx - 1)
        considered = inside | (np.bincount(who, weights=inside, minlength=n) == 0)[who]
        highest = np.full(n, gy)
        np.minimum.at(highest, who[considered], top[considered])
        ref = np.array([_wrists_middle(e) for e in persons])
        score = np.where(considered, (top > highest[who]) * 1e6 + np.abs(centre - ref[who]), np.inf)
        order = np.lexsort((score, who))
        owners, at = np.unique(who[order], return_index=True)
        best = order[at]
        spacing = np.array([e.box.width for e in persons])[owners] / gx
        width_m = (last[best] - first[best] + 1) * spacing * modes.z[owners] / camera.fx
        ok = modes.found[owners] & (width_m >= c.head_min_width_m) & (width_m <= c.head_max_width_m)
        out[owners[ok]] = np.column_stack([centre[best[ok]], modes.z[owners[ok]]])   # else: a wall, an arm
        return out


def _wrists_middle(e: Entity) -> float:
    """Where a person's head should be across the image: between its visible wrists, else its box's centre."""
    xs = [k.x for k in e.keypoints if k.score > 0]
    return sum(xs) / len(xs) if xs else (e.box.x_min + e.box.x_max) / 2.0


def _pushed_back(camera: CameraModel, u: np.ndarray, v: np.ndarray, z: np.ndarray, offset_m: np.ndarray
                 ) -> np.ndarray:
    """Points (N x 3) seen at (u, v) at depth z, moved offset_m further along their viewing rays."""
    x, y = camera.normalized(np.asarray(u, dtype=float), np.asarray(v, dtype=float))
    z_centre = np.asarray(z) + np.asarray(offset_m) / np.sqrt(x * x + y * y + 1.0)
    return np.column_stack([x * z_centre, y * z_centre, z_centre])


def _copy(e: Entity) -> Entity:
    """A shallow copy (copy.copy's generality is a tenth of the cost of a frame here)."""
    out = Entity.__new__(Entity)
    out.__dict__.update(e.__dict__)
    return out


def _point(p: np.ndarray) -> Point3:
    return (float(p[0]), float(p[1]), float(p[2]))
