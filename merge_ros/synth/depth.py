"""The synthetic depth camera: a depth image aligned to the colour frame, with a real sensor's artefacts.

Every silhouette primitive the renderer draws for an entity names the 3-D surface it belongs to (a swept sphere
for balls, limbs and cylinders, a plane for discs and flat polygons), and the painter keeps, beside its ID buffer,
which surface each pixel shows last. Depth is then ray-cast per pixel against that surface alone, so the depth
image agrees with the colour image and the annotations pixel for pixel (painter's order decides occlusion for both);
pixels no entity drew show the room and the table, intersected analytically. Depth is z along the optical axis
(what depth cameras publish), not the range along the ray.

DepthSensor then adds what a structured-light or stereo sensor does to that truth: axial noise growing with the
square of the distance (the Kinect model of Nguyen et al. 2012, sigma = 1.2 mm + 1.9 mm * (z - 0.4 m)^2),
correlated over a few pixels, flying pixels and holes along depth edges, dropout blobs, no reading outside the
working range, depth in disparity steps (1/8 pixel over a 7.5 cm baseline: 3 mm at 1 m, 13 mm at 2 m), then
millimetres.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from merge_ros.synth.camera import Camera
from merge_ros.synth.realism import Realism

MIN_RANGE_M = 0.25
MAX_RANGE_M = 6.0
EDGE_JUMP_M = 0.04   # a step larger than this between neighbouring pixels is a depth edge


@dataclass(frozen=True)
class Capsule:
    """The solid swept by a sphere from a (radius ra) to b (radius rb), world frame; a == b is a ball."""

    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float


@dataclass(frozen=True)
class Plane:
    """A flat patch (disc, polygon) through `point` with `normal`, its depth kept within the patch's own extent."""

    point: np.ndarray
    normal: np.ndarray
    corners: np.ndarray   # a few points of its outline, world frame (bound the depth at grazing views)


Surface = Capsule | Plane


def plane_through(points: np.ndarray) -> Plane:
    """The least-squares plane of a polygon's vertices (the torso, a bowl's opening)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    center = pts.mean(axis=0)
    normal = np.linalg.svd(pts - center)[2][-1]
    return Plane(center, normal, pts)


@lru_cache(maxsize=8)
def _rays(cam: Camera) -> tuple[np.ndarray, np.ndarray]:
    """x/z and y/z of the ray through each pixel, flattened. The renderer draws with OpenCV, which puts pixel i's
    centre at coordinate i, so that is where Camera.project's coordinates put it too."""
    xs = (np.arange(cam.width) - cam.width / 2.0) / cam.focal
    ys = (np.arange(cam.height) - cam.height / 2.0) / cam.focal
    gx, gy = np.meshgrid(xs, ys)
    return gx.ravel(), gy.ravel()


def backdrop_depth(cam: Camera, table_mask: np.ndarray, wall_y: float, floor_z: float, table_half_width: float,
                   table_depth: float) -> np.ndarray:
    """Depth (m, float32) of the static scene: the table top and front face where the table is drawn, else the
    nearer of the wall and the floor."""
    rx, ry = _rays(cam)
    origin = np.asarray(cam.position, dtype=float)
    world = np.column_stack([rx, ry, np.ones_like(rx)]) @ cam.axes   # each ray's world direction per unit depth

    def hit(axis: int, value: float) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (value - origin[axis]) / world[:, axis]
        return np.where(t > 0, t, np.inf)

    room = np.minimum(hit(1, wall_y), hit(2, floor_z))
    top, front = hit(2, 0.0), hit(1, 0.0)
    with np.errstate(invalid="ignore"):      # rays that never meet the table plane: inf * 0
        px, py = origin[0] + top * world[:, 0], origin[1] + top * world[:, 1]
    on_top = (np.abs(px) <= table_half_width + 0.01) & (py >= -0.01) & (py <= table_depth + 0.01)
    table = np.where(on_top, top, front)
    depth = np.where(table_mask.ravel() > 0, table, room)
    return np.minimum(depth, 50.0).astype(np.float32).reshape(cam.height, cam.width)


def surface_depth(cam: Camera, surfaces: list[Surface], surface_ids: np.ndarray,
                  background: np.ndarray) -> np.ndarray:
    """The true depth image (m, float32): background where surface_ids is 0, else the ray's hit on surface
    surface_ids - 1."""
    depth = background.ravel().astype(np.float64)
    pix = np.flatnonzero(surface_ids)
    if not pix.size:
        return background.copy()
    which = surface_ids.ravel()[pix].astype(np.intp) - 1
    rx, ry = _rays(cam)
    dx, dy = rx[pix], ry[pix]
    capsule = np.array([isinstance(s, Capsule) for s in surfaces])[which]
    params = _surface_params(cam, surfaces)
    if capsule.any():
        depth[pix[capsule]] = _capsule_depth(params, which[capsule], dx[capsule], dy[capsule])
    if not capsule.all():
        depth[pix[~capsule]] = _plane_depth(params, which[~capsule], dx[~capsule], dy[~capsule])
    return depth.astype(np.float32).reshape(background.shape)


def _surface_params(cam: Camera, surfaces: list[Surface]) -> dict[str, np.ndarray]:
    """Per-surface constants of the ray tests, camera frame (capsules: segment a + s u with radius ra + s dr;
    planes: n . x = c, depth bounded to [lo, hi])."""
    n = len(surfaces)
    a, u = np.zeros((n, 3)), np.zeros((n, 3))
    ra, dr, lo, hi = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    points, owners = [], []
    for i, s in enumerate(surfaces):
        if isinstance(s, Capsule):
            points += [s.a, s.b]
            owners += [i, i]
            ra[i], dr[i] = s.ra, s.rb - s.ra
        else:
            points += [s.point, *s.corners]
            owners += [i] * (1 + len(s.corners))
    cam_pts = cam.to_camera(np.vstack(points))
    owners_arr = np.asarray(owners)
    first = np.searchsorted(owners_arr, np.arange(n))
    normal = np.zeros((n, 3))
    for i, s in enumerate(surfaces):
        j = first[i]
        if isinstance(s, Capsule):
            a[i], u[i] = cam_pts[j], cam_pts[j + 1] - cam_pts[j]
        else:
            a[i] = cam_pts[j]
            normal[i] = cam.axes @ np.asarray(s.normal, dtype=float)
            zs = cam_pts[j + 1:j + 1 + len(s.corners), 2]
            lo[i], hi[i] = zs.min() - 0.005, zs.max() + 0.005
    return {"ax": a[:, 0].copy(), "ay": a[:, 1].copy(), "az": a[:, 2].copy(), "ux": u[:, 0].copy(),
            "uy": u[:, 1].copy(), "uz": u[:, 2].copy(), "ra": ra, "dr": dr, "uu": np.einsum("ij,ij->i", u, u),
            "ua": np.einsum("ij,ij->i", u, a), "aa": np.einsum("ij,ij->i", a, a), "nx": normal[:, 0].copy(),
            "ny": normal[:, 1].copy(), "nz": normal[:, 2].copy(), "c": np.einsum("ij,ij->i", normal, a), "lo": lo,
            "hi": hi}


def _capsule_depth(p: dict[str, np.ndarray], which: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Ray t * (dx, dy, 1) (so t is the depth) against a swept sphere: the closest point of the axis segment to
    the ray, then the sphere of the radius there; a ray that misses (hull corners) takes the closest approach."""
    g = {k: p[k][which] for k in ("ax", "ay", "az", "ux", "uy", "uz", "uu", "ua", "aa", "ra", "dr")}
    ud = g["ux"] * dx + g["uy"] * dy + g["uz"]
    da = g["ax"] * dx + g["ay"] * dy + g["az"]
    dd = dx * dx + dy * dy + 1.0
    denom = g["uu"] * dd - ud * ud
    safe = denom > 1e-12                      # a ball, or a segment along the ray
    s = np.where(safe, (ud * da - dd * g["ua"]) / np.where(safe, denom, 1.0), 0.0)
    np.clip(s, 0.0, 1.0, out=s)
    qd = da + s * ud
    qq = g["aa"] + s * (2.0 * g["ua"] + s * g["uu"])
    t_near = qd / dd
    r = g["ra"] + g["dr"] * s
    inside = np.maximum(r * r - (qq - qd * t_near), 0.0)
    return t_near - np.sqrt(inside / dd)


def _plane_depth(p: dict[str, np.ndarray], which: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    nd = p["nx"][which] * dx + p["ny"][which] * dy + p["nz"][which]
    edge_on = np.abs(nd) < 1e-9               # seen edge-on: the patch's own depth
    t = np.where(edge_on, p["az"][which], p["c"][which] / np.where(edge_on, 1.0, nd))
    return np.clip(t, p["lo"][which], p["hi"][which])


def axial_sigma_m(z: np.ndarray | float) -> np.ndarray | float:
    """Standard deviation of the synthetic sensor's depth noise at depth z (m)."""
    return 0.0012 + 0.0019 * (np.asarray(z) - 0.4) ** 2


class DepthSensor:
    """True depth (m) -> a 16UC1 reading in millimetres, 0 where there is none.

    The noise is spatially correlated over a few pixels, as a stereo matcher's or a structured-light decoder's
    window makes it (so averaging many pixels of one surface does not remove it as it would white noise). Noise
    and dropout come from small pre-drawn banks of fields at random offsets (as the colour sensor's), for speed;
    the sensor's own random stream keeps the colour frames and annotations unchanged whatever the depth settings.
    """

    def __init__(self, rng: np.random.Generator, width: int, height: int, focal: float, realism: Realism) -> None:
        self.rng, self.realism, self.focal = rng, realism, focal
        self.size = (width, height)
        self.noise = [_unit_field(rng, height + 16, width + 16, NOISE_CORRELATION_PX) for _ in range(3)]
        self.dropout = [_unit_field(rng, height + 16, width + 16, DROPOUT_BLOB_PX) for _ in range(3)]
        self.dropout_level = float(np.quantile(self.dropout[0], 1.0 - realism.depth_dropout))

    def _pick(self, bank: list[np.ndarray]) -> np.ndarray:
        w, h = self.size
        dy, dx = (int(v) for v in self.rng.integers(0, 16, 2))
        return bank[int(self.rng.integers(len(bank)))][dy:dy + h, dx:dx + w]

    def __call__(self, depth_m: np.ndarray) -> np.ndarray:
        r = self.realism
        z = depth_m.astype(np.float32)
        if r.depth_noise > 0:
            z += self._pick(self.noise) * (r.depth_noise * axial_sigma_m(depth_m)).astype(np.float32)
        if r.depth_flying > 0 or r.depth_edge_holes > 0:
            near = cv2.erode(depth_m, _CROSS)
            far = cv2.dilate(depth_m, _CROSS)
            ys, xs = np.nonzero((far - near) > EDGE_JUMP_M)
            draw = self.rng.random(ys.size, dtype=np.float32)
            fly = draw < r.depth_flying
            fy, fx = ys[fly], xs[fly]
            mix = self.rng.random(fy.size, dtype=np.float32)
            z[fy, fx] = near[fy, fx] + mix * (far[fy, fx] - near[fy, fx])
            hole = (draw >= r.depth_flying) & (draw < r.depth_flying + r.depth_edge_holes)
            z[ys[hole], xs[hole]] = 0.0
        if r.depth_dropout > 0:
            z[self._pick(self.dropout) > self.dropout_level] = 0.0
        z[(z < MIN_RANGE_M) | (z > MAX_RANGE_M)] = 0.0
        if r.depth_noise > 0:   # disparity is measured in sub-pixel steps, so depth comes in steps growing as z^2
            valid = z > 0
            steps = self.focal * BASELINE_M * DISPARITY_STEPS_PER_PX   # depth times disparity, in steps
            z[valid] = steps / np.rint(steps / z[valid])
        return np.rint(z * 1000.0).astype(np.uint16)


NOISE_CORRELATION_PX = 1.2
BASELINE_M = 0.075             # between projector and camera (Kinect-like), with 1/8 pixel disparity steps
DISPARITY_STEPS_PER_PX = 8
DROPOUT_BLOB_PX = 2.5
_CROSS = np.ones((3, 3), np.uint8)


def _unit_field(rng: np.random.Generator, height: int, width: int, sigma_px: float) -> np.ndarray:
    """White noise blurred over sigma_px and scaled back to unit standard deviation."""
    field = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), sigma_px)
    return field / max(float(field.std()), 1e-6)
