"""The static part of a frame: wall, floor, a chair or two, and the table top in perspective.

Rendered once per scene. The table is a separate layer with its own mask because persons stand behind it: their
torsos are drawn first and the table then hides everything of them below its far edge.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from merge_ros.synth.camera import Camera
from merge_ros.synth.catalog import TABLE_DEPTH, TABLE_HALF_WIDTH
from merge_ros.synth.depth import backdrop_depth
from merge_ros.synth.painter import Color, Painter, shade

WALL_Y = 2.3
FLOOR_Z = -0.75
TEX_PX_PER_M = 500


@dataclass
class Backdrop:
    room: np.ndarray        # wall and floor, BGR
    table: np.ndarray       # the table drawn over the room, BGR
    table_mask: np.ndarray  # uint8, 255 where the table (top and front face) is
    table_color: Color

    @property
    def table_top(self) -> int:
        """First image row the table reaches (shadows fall only below it)."""
        rows = np.flatnonzero(self.table_mask.any(axis=1))
        return max(int(rows[0]) - 8, 0) if len(rows) else 0

    def depth(self, cam: Camera) -> np.ndarray:
        """True depth (m) of the static scene; the chairs and the board are painted on the floor and the wall."""
        return backdrop_depth(cam, self.table_mask, WALL_Y, FLOOR_Z, TABLE_HALF_WIDTH, TABLE_DEPTH)

    def compose(self, p: Painter) -> None:
        """Put the table over what was drawn so far (the persons' bodies)."""
        cv2.copyTo(self.table, self.table_mask, p.img)
        p.cover(self.table_mask)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    small = rng.standard_normal((cells[1], cells[0])).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _table_texture(rng: np.random.Generator, style: str, color: Color) -> np.ndarray:
    h, w = int(TABLE_DEPTH * TEX_PX_PER_M), int(2 * TABLE_HALF_WIDTH * TEX_PX_PER_M)
    base = np.empty((h, w, 3), np.float32)
    base[:] = color
    if style == "wood":
        warp = _smooth_noise(rng, (h, w), (6, 3))
        ys = np.arange(h, dtype=np.float32)[:, None]
        xs = np.arange(w, dtype=np.float32)[None, :]
        grain = np.sin(2 * np.pi * (ys / 11.0 + 0.6 * warp + 0.001 * xs))
        fine = _smooth_noise(rng, (h, w), (w // 3, h // 40))
        factor = 1.0 + 0.07 * grain + 0.04 * fine
        planks = (np.floor(ys / (h / 4.0)) % 2) * 0.03
        factor = factor - planks
        for y in np.linspace(0, h, 5)[1:-1]:
            factor[int(y) - 1:int(y) + 1, :] *= 0.8
    else:
        factor = 1.0 + 0.015 * _smooth_noise(rng, (h, w), (w // 4, h // 4)) + 0.02 * _smooth_noise(rng, (h, w), (4, 2))
    return np.clip(base * factor[..., None], 0, 255).astype(np.uint8)


def _room(cam: Camera, rng: np.random.Generator, wall: Color, floor: Color) -> np.ndarray:
    w, h = cam.width, cam.height
    img = np.empty((h, w, 3), np.float32)
    base_y = cam.project(np.array([[0.0, WALL_Y, FLOOR_Z]]))[0, 1]
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    img[:] = wall
    img *= 1.08 - 0.12 * rows / max(base_y, 1.0)
    floor_rows = rows[:, 0, 0] >= base_y
    carpet = 1.0 + 0.06 * _smooth_noise(rng, (h, w), (w // 3, h // 3))[..., None]
    img[floor_rows] = (np.asarray(floor, np.float32) * carpet[floor_rows])
    img = np.clip(img, 0, 255).astype(np.uint8)
    yb = int(round(base_y))
    cv2.rectangle(img, (0, yb - 6), (w, yb), shade(wall, 0.75), -1)
    _board(img, cam, rng)
    for x in rng.choice([-1.3, -0.7, 0.6, 1.2], size=2, replace=False):
        _chair(img, cam, float(x), rng)
    return img


def _board(img: np.ndarray, cam: Camera, rng: np.random.Generator) -> None:
    """A framed whiteboard or picture on the wall: a static feature a tracker must not mistake for anything."""
    x0 = float(rng.uniform(-0.9, 0.1))
    corners = np.array([[x0, WALL_Y, 0.35], [x0 + 0.9, WALL_Y, 0.35], [x0 + 0.9, WALL_Y, 0.95], [x0, WALL_Y, 0.95]])
    pts = cam.project(corners).astype(np.int32)
    cv2.fillPoly(img, [pts], (232, 234, 236), cv2.LINE_AA)
    cv2.polylines(img, [pts], True, (150, 150, 155), 3, cv2.LINE_AA)


def _chair(img: np.ndarray, cam: Camera, x: float, rng: np.random.Generator) -> None:
    y = WALL_Y - 0.45
    seat = (40, 40, 170) if rng.random() < 0.6 else (70, 70, 75)
    legs = np.array([[x - 0.2, y - 0.2], [x + 0.2, y - 0.2], [x + 0.2, y + 0.2], [x - 0.2, y + 0.2]])
    for lx, ly in legs:
        p = cam.project(np.array([[lx, ly, FLOOR_Z], [lx, ly, FLOOR_Z + 0.45]])).astype(np.int32)
        cv2.line(img, tuple(p[0]), tuple(p[1]), (150, 150, 150), 2, cv2.LINE_AA)
    top = cam.project(np.column_stack([legs, np.full(4, FLOOR_Z + 0.45)])).astype(np.int32)
    cv2.fillPoly(img, [top], seat, cv2.LINE_AA)
    back = cam.project(np.array([[x - 0.2, y + 0.2, FLOOR_Z + 0.5], [x + 0.2, y + 0.2, FLOOR_Z + 0.5],
                                 [x + 0.2, y + 0.2, FLOOR_Z + 0.85], [x - 0.2, y + 0.2, FLOOR_Z + 0.85]]))
    cv2.fillPoly(img, [back.astype(np.int32)], shade(seat, 1.15), cv2.LINE_AA)


def make_backdrop(cam: Camera, rng: np.random.Generator) -> Backdrop:
    style = str(rng.choice(["wood", "gray", "white"], p=[0.45, 0.25, 0.30]))
    table_color: Color = {"wood": (95, 145, 190), "gray": (165, 165, 160), "white": (228, 230, 230)}[style]
    wall: Color = tuple(int(v) for v in rng.integers(175, 215) + rng.integers(-8, 9, 3))  # type: ignore[assignment]
    floor: Color = tuple(int(v) for v in rng.integers(80, 120) + rng.integers(-10, 11, 3))  # type: ignore[assignment]
    room = _room(cam, rng, wall, floor)

    tex = _table_texture(rng, style, table_color)
    th, tw = tex.shape[:2]
    # texture pixel (u, v) -> table point (x, y): x = u / s - half width, y = depth - v / s (v grows towards the camera)
    to_plane = np.array([[1.0 / TEX_PX_PER_M, 0, -TABLE_HALF_WIDTH], [0, -1.0 / TEX_PX_PER_M, TABLE_DEPTH], [0, 0, 1]])
    hom = cam.plane_homography(0.0) @ to_plane
    table = cv2.warpPerspective(tex, hom, (cam.width, cam.height), flags=cv2.INTER_LINEAR)
    top = cam.project(np.array([[-TABLE_HALF_WIDTH, 0, 0], [TABLE_HALF_WIDTH, 0, 0],
                                [TABLE_HALF_WIDTH, TABLE_DEPTH, 0], [-TABLE_HALF_WIDTH, TABLE_DEPTH, 0]]))
    mask = np.zeros((cam.height, cam.width), np.uint8)
    cv2.fillPoly(mask, [np.round(top).astype(np.int32)], 255, cv2.LINE_8)
    front = cam.project(np.array([[-TABLE_HALF_WIDTH, 0, 0], [TABLE_HALF_WIDTH, 0, 0],
                                  [TABLE_HALF_WIDTH, 0, -0.045], [-TABLE_HALF_WIDTH, 0, -0.045]]))
    cv2.fillPoly(table, [np.round(front).astype(np.int32)], shade(table_color, 0.62), cv2.LINE_AA)
    cv2.fillPoly(mask, [np.round(front).astype(np.int32)], 255, cv2.LINE_8)
    edge = cam.project(np.array([[-TABLE_HALF_WIDTH, 0, 0], [TABLE_HALF_WIDTH, 0, 0]]))
    cv2.line(table, tuple(np.round(edge[0]).astype(int)), tuple(np.round(edge[1]).astype(int)),
             shade(table_color, 1.08), 2, cv2.LINE_AA)
    _vignette(room)
    _vignette(table)
    return Backdrop(room, table, mask, table_color)


def _vignette(img: np.ndarray) -> None:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h * 0.45) / (h / 2)) ** 2
    factor = (1.0 - 0.16 * r2).clip(0.6, 1.0)
    img[:] = np.clip(img * factor[..., None], 0, 255).astype(np.uint8)
