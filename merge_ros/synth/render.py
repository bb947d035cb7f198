"""Compose one frame of the world: room, persons behind the table, table, shadows, then depth-sorted things.

Painter's algorithm with two layers: flat things lying on the table (plates, bowls) first, then everything else
from far to near, each keyed by its nearest working point (a person's arm by its hand, a held object just after
its holder's hand), so that an arm reaching over the table covers what lies under it, as a camera would see.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np

from merge_ros.synth.background import Backdrop, make_backdrop
from merge_ros.synth.camera import Camera
from merge_ros.synth.depth import surface_depth
from merge_ros.synth.figures import (
    bottle_mouth,
    draw_bowl_front,
    draw_object,
    draw_person_arm,
    draw_person_body,
    draw_robot_arm,
    draw_robot_base,
    hand_center,
    person_pose,
    robot_pose,
)
from merge_ros.synth.painter import Painter, Visibility, shade
from merge_ros.synth.timeline import PERSON, World, WorldState
from merge_ros.types import Point3

CHEST_BELOW_SHOULDERS_M = 0.15   # a person's reference point: on the torso, this far below the shoulder centre


@dataclass(frozen=True)
class Pour:
    """A bottle emptying into a cup from `full` (tilt reached) to `end` (tilting back)."""

    bottle: str
    cup: str
    full: int
    end: int
    liquid: tuple[int, int, int]


@dataclass
class Rendered:
    image: np.ndarray
    visibility: dict[str, Visibility]
    keypoints: dict[str, dict[str, tuple[float, float]]]   # actor -> name -> pixel
    depth: np.ndarray | None = None                         # true depth (m, float32) when asked for
    positions: dict[str, Point3] = field(default_factory=dict)   # entity -> 3-D reference point, optical frame
    keypoint_positions: dict[str, dict[str, Point3]] = field(default_factory=dict)  # actor -> name -> 3-D point


class Renderer:
    def __init__(self, world: World, cam: Camera, rng: np.random.Generator, pours: list[Pour],
                 depth: bool = False) -> None:
        """depth: also ray-cast the true depth image of each full frame (merge_ros.synth.depth)."""
        self.world = world
        self.cam = cam
        self.backdrop: Backdrop = make_backdrop(cam, rng)
        self.pours = pours
        self.background_depth = self.backdrop.depth(cam) if depth else None
        ids = list(world.actors) + list(world.objects)
        if len(ids) > 250:
            raise ValueError("at most 250 entities per scene")
        self.eid = {e: i + 1 for i, e in enumerate(ids)}

    def render(self, state: WorldState, only: set[str] | None = None) -> Rendered:
        """Draw the frame; `only` restricts drawing to some entities (clean reference crops)."""
        cam, world = self.cam, self.world
        shown = (lambda e: True) if only is None else (lambda e: e in only)
        with_depth = self.background_depth is not None and only is None
        p = Painter(self.backdrop.room, depth=with_depth)
        poses = {}
        for aid, spec in world.actors.items():
            poses[aid] = person_pose(spec, state.actors[aid]) if spec.kind == PERSON else robot_pose(
                spec, state.actors[aid])
        persons = sorted((a for a in world.actors if world.actors[a].kind == PERSON and shown(a)),
                         key=lambda a: -cam.depth(poses[a].center))
        for aid in persons:
            draw_person_body(p, cam, world.actors[aid], poses[aid], self.eid[aid])
        self.backdrop.compose(p)
        self._shadows(p, state, poses, shown)

        items: list[tuple[int, float, Callable[[], None]]] = []
        hand_depth: dict[tuple[str, str], float] = {}
        for aid, spec in world.actors.items():
            if not shown(aid):
                continue
            pose, eid = poses[aid], self.eid[aid]
            if spec.kind == PERSON:
                for hand in ("right", "left"):
                    d = cam.depth(hand_center(pose, hand))
                    hand_depth[(aid, hand)] = d
                    items.append((1, d, partial(draw_person_arm, p, cam, spec, pose, hand, eid)))
            else:
                hand_depth[(aid, "gripper")] = cam.depth(pose.grip)
                items.append((1, cam.depth(pose.base), partial(draw_robot_base, p, cam, spec, pose, eid)))
                arm_depth = min(cam.depth(pose.grip), cam.depth(pose.shoulder)) - 0.002
                items.append((1, arm_depth, partial(draw_robot_arm, p, cam, spec, pose, eid)))
        for oid, spec in world.objects.items():
            if not shown(oid):
                continue
            pose, eid = state.objects[oid], self.eid[oid]
            draw = partial(draw_object, p, cam, spec, pose, eid, *self._fill(oid, state.frame))
            if pose.actor:
                hand = world.holding_at(oid, state.frame).hand
                depth = hand_depth.get((pose.actor, hand), cam.depth(pose.base)) - 0.001
                items.append((1, depth, draw))
                stream = self._stream(oid, state)
                if stream is not None:
                    items.append((1, depth - 0.0005, partial(p.line, *stream)))
            elif not spec.kind.movable:
                items.append((0, cam.depth(pose.base), draw))
                if spec.kind.shape == "bowl":
                    front = pose.base + np.array([0.0, -spec.kind.radius, spec.kind.height])
                    items.append((1, cam.depth(front), partial(draw_bowl_front, p, cam, spec, pose, eid)))
            else:
                items.append((1, cam.depth(pose.base + pose.axis() * spec.kind.radius), draw))
        for _, _, draw in sorted(items, key=lambda it: (it[0], -it[1])):
            draw()
        vis = {e: v for e, i in self.eid.items() if (v := p.visibility(i)) is not None}
        rendered = Rendered(p.img, vis, self._keypoints(poses))
        if with_depth:
            rendered.depth = surface_depth(cam, p.surfaces, p.surface_ids, self.background_depth)
            rendered.positions = self._positions(state, poses)
            rendered.keypoint_positions = {a: {n: self._optical(q) for n, q in pts.items()}
                                           for a, pts in self._keypoint_points(poses).items()}
        return rendered

    def _keypoint_points(self, poses: dict) -> dict[str, dict[str, np.ndarray]]:
        """World points of each actor's keypoints: the wrists of a person, the grip point of a robot."""
        out = {}
        for aid, spec in self.world.actors.items():
            pose = poses[aid]
            out[aid] = ({f"{h}_wrist": pose.wrists[h] for h in ("left", "right")} if spec.kind == PERSON
                        else {"gripper": pose.grip})
        return out

    def _keypoints(self, poses: dict) -> dict[str, dict[str, tuple[float, float]]]:
        return {aid: {n: tuple(float(v) for v in self.cam.project(q[None])[0]) for n, q in pts.items()}
                for aid, pts in self._keypoint_points(poses).items()}

    def _positions(self, state: WorldState, poses: dict) -> dict[str, Point3]:
        """Each entity's reference point in the camera's optical frame: an object's centre (the middle of its axis),
        a person's chest (on the torso, CHEST_BELOW_SHOULDERS_M below the shoulder centre), a robot's grip point
        (between its fingers, where its gripper keypoint is)."""
        out = {}
        for oid, spec in self.world.objects.items():
            pose = state.objects[oid]
            out[oid] = self._optical(pose.base + pose.axis() * spec.kind.height / 2.0)
        for aid, spec in self.world.actors.items():
            pose = poses[aid]
            if spec.kind == PERSON:
                down = pose.waist - pose.center
                out[aid] = self._optical(pose.center + [0.0, 0.01, 0.0]
                                         + down / np.linalg.norm(down) * CHEST_BELOW_SHOULDERS_M)
            else:
                out[aid] = self._optical(pose.grip)
        return out

    def _optical(self, point: np.ndarray) -> Point3:
        x, y, z = self.cam.to_camera(point)[0]
        return (float(x), float(y), float(z))

    def _fill(self, cup: str, frame: int) -> tuple[float, tuple[int, int, int]]:
        level, liquid = 0.0, (60, 120, 200)
        for pr in self.pours:
            if pr.cup == cup and frame > pr.full:
                level += 0.45 * min((frame - pr.full) / max(pr.end - pr.full, 1), 1.0)
                liquid = pr.liquid
        return min(level, 0.9), liquid

    def _stream(self, bottle: str, state: WorldState) -> tuple[np.ndarray, tuple[int, int, int], float] | None:
        """The poured liquid as a polyline from the bottle's mouth into the cup, while a pour is on."""
        for pr in self.pours:
            if pr.bottle == bottle and pr.full <= state.frame < pr.end:
                mouth = bottle_mouth(self.world.objects[bottle], state.objects[bottle])
                target = state.objects[pr.cup].base + np.array([0.0, 0.0, self.world.objects[pr.cup].kind.height * 0.7])
                pts = self.cam.project(np.array([mouth, (mouth + target) / 2 + [0.0, 0.0, -0.005], target]))
                return pts, shade(pr.liquid, 0.95), max(self.cam.pixels(0.008, target), 2.0)
        return None

    def _shadows(self, p: Painter, state: WorldState, poses: dict, shown: Callable[[str], bool]) -> None:
        """Soft contact shadows on the table, darker and tighter the closer a thing is to the surface."""
        cam = self.cam
        layer = np.zeros(p.ids.shape, np.uint8)
        blobs: list[tuple[np.ndarray, float, float]] = []
        for oid, spec in self.world.objects.items():
            if shown(oid):
                pose = state.objects[oid]
                blobs.append((pose.base, spec.kind.radius * 1.15, float(pose.base[2])))
        for aid, spec in self.world.actors.items():
            if not shown(aid):
                continue
            pose = poses[aid]
            if spec.kind == PERSON:
                blobs += [(hand_center(pose, h), 0.05, float(hand_center(pose, h)[2])) for h in ("right", "left")]
            else:
                blobs += [(pose.grip, 0.05, float(pose.grip[2])), (pose.base, 0.1, 0.0)]
        for pos, radius, height in blobs:
            if pos[1] < 0 or abs(pos[0]) > 0.9:
                continue
            strength = int(170 * max(0.15, 1.0 - height / 0.35))
            spread = radius * (1.0 + 1.5 * max(height, 0.0))
            center = np.array([pos[0] + 0.2 * height, pos[1] + 0.15 * height, 0.0])
            ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
            ring = center + spread * np.column_stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)])
            cv2.fillPoly(layer, [np.round(cam.project(ring)).astype(np.int32)], strength, cv2.LINE_AA)
        y0 = self.backdrop.table_top
        band = cv2.GaussianBlur(layer[y0:], (0, 0), 4)
        band = cv2.bitwise_and(band, self.backdrop.table_mask[y0:])
        factor = cv2.merge([cv2.subtract(255, cv2.multiply(band, 0.45))] * 3)
        p.img[y0:] = cv2.multiply(p.img[y0:], factor, scale=1.0 / 255)
