"""How each thing in the scene is drawn: shaded 3-D primitives projected through the camera.

Shapes are built from world-space solids (spheres, cylinders, discs) so that perspective, tilting bottles and
arms reaching towards the camera come out right; shading is a few offset layers towards a light at the upper
left, enough for a detector-like appearance without a real renderer.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from merge_ros.synth.camera import Camera
from merge_ros.synth.catalog import ARM_FORE, ARM_UPPER, PERSON_Y
from merge_ros.synth.depth import Capsule, Plane, plane_through
from merge_ros.synth.painter import Color, Painter, mix, shade
from merge_ros.synth.timeline import ActorSpec, ObjectPose, ObjectSpec

LIGHT = np.array([-0.5, -0.55, 0.65]) / np.linalg.norm([-0.5, -0.55, 0.65])
WHITE: Color = (255, 255, 255)


def two_bone(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float, pole: np.ndarray) -> np.ndarray:
    """Elbow of a two-segment limb, bending towards `pole`; a limb too short for the target is drawn straight."""
    d_vec = wrist - shoulder
    d = float(np.linalg.norm(d_vec))
    if d < 1e-6:
        return shoulder + np.array([0.0, 0.0, -upper])
    u = d_vec / d
    if d >= upper + fore:
        return shoulder + u * d * upper / (upper + fore)
    a = (upper * upper - fore * fore + d * d) / (2 * d)
    h = np.sqrt(max(upper * upper - a * a, 0.0))
    p = pole - shoulder
    p = p - u * float(p @ u)
    n = float(np.linalg.norm(p))
    p = p / n if n > 1e-6 else np.array([0.0, 0.0, -1.0])
    return shoulder + u * a + p * h


_UNIT = {n: (np.cos(np.linspace(0, 2 * np.pi, n, endpoint=False)), np.sin(np.linspace(0, 2 * np.pi, n, endpoint=False)))
         for n in (18, 28)}


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross for two 3-vectors without its generality (it dominated the frame time)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _ring(center: np.ndarray, radius: float, axis: np.ndarray, n: int = 18) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    ref = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = _cross(axis, ref)
    e1 /= np.linalg.norm(e1)
    e2 = _cross(axis, e1)
    cos, sin = _UNIT[n]
    return center + radius * (np.outer(cos, e1) + np.outer(sin, e2))


def _hull(pts: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.asarray(pts, np.float32)).reshape(-1, 2)


def disc(p: Painter, cam: Camera, center: np.ndarray, radius: float, color: Color, eid: int = 0,
         axis: np.ndarray | None = None) -> np.ndarray:
    normal = np.array([0.0, 0.0, 1.0]) if axis is None else axis
    ring = _ring(center, radius, normal, 28)
    pts = cam.project(ring)
    if eid:
        p.on(Plane(center, normal, ring[::7]))
    p.poly(pts, color, eid)
    return pts


def solid(p: Painter, cam: Camera, a: np.ndarray, b: np.ndarray, ra: float, rb: float, color: Color,
          eid: int = 0, shading: bool = True) -> None:
    """A (tapered) cylinder from a to b: the convex hull of its two end rings is its exact silhouette."""
    if eid:
        p.on(Capsule(a, b, ra, rb))
    axis = b - a
    if np.linalg.norm(axis) < 1e-6:
        return
    pts = cam.project(np.vstack([_ring(a, ra, axis), _ring(b, rb, axis)]))
    p.poly(_hull(pts), shade(color, 0.78) if shading else color, eid)
    if not shading:
        return
    u = axis / np.linalg.norm(axis)
    side = LIGHT - u * float(LIGHT @ u)
    side /= max(np.linalg.norm(side), 1e-6)
    for off, scale, f in ((0.18, 0.8, 1.0), (0.5, 0.35, 1.18)):
        pts = cam.project(np.vstack([_ring(a + side * ra * off, ra * scale, axis),
                                     _ring(b + side * rb * off, rb * scale, axis)]))
        p.poly(_hull(pts), shade(color, f))


def ball(p: Painter, cam: Camera, center: np.ndarray, radius: float, color: Color, eid: int = 0,
         squash: float = 1.0) -> None:
    c = cam.project(center[None])[0]
    r = cam.pixels(radius, center)
    light2d = np.array([-0.55, -0.65])
    if eid:
        p.on(Capsule(center, center, radius, radius))
    p.ellipse(c, (r, r * squash), 0, shade(color, 0.62), eid)
    p.ellipse(c + light2d * r * 0.1, (r * 0.88, r * 0.88 * squash), 0, shade(color, 0.85))
    p.ellipse(c + light2d * r * 0.25, (r * 0.6, r * 0.6 * squash), 0, color)
    p.ellipse(c + light2d * r * 0.38, (r * 0.32, r * 0.3 * squash), 0, shade(color, 1.15))
    p.circle(c + light2d * r * 0.5, max(r * 0.12, 1.0), mix(color, WHITE, 0.6))


def capsule(p: Painter, cam: Camera, a: np.ndarray, b: np.ndarray, ra: float, rb: float, color: Color,
            eid: int = 0) -> None:
    solid(p, cam, a, b, ra, rb, color, eid)   # its swept-sphere surface covers the round ends too
    for end, r in ((a, ra), (b, rb)):
        p.circle(cam.project(end[None])[0], cam.pixels(r, end) * 0.97, shade(color, 0.9), eid)


# ----------------------------------------------------------------------------------------------- persons

@dataclass
class PersonPose:
    center: np.ndarray          # shoulder centre
    head: np.ndarray
    shoulders: dict[str, np.ndarray]
    elbows: dict[str, np.ndarray]
    wrists: dict[str, np.ndarray]
    waist: np.ndarray


def person_pose(spec: ActorSpec, state: dict[str, np.ndarray]) -> PersonPose:
    """Torso lean follows the hands: a person reaching far over the table bends forward (and a little sideways)."""
    x = float(state["x"][0])
    wrists = {h: state[h] for h in ("right", "left")}
    forward = {h: (PERSON_Y - 0.25) - float(w[1]) for h, w in wrists.items()}
    lead = max(forward, key=forward.get)
    reach = max(forward[lead], 0.0)
    lean = min(0.16, 0.42 * reach)
    sideways = float(np.clip(0.25 * (wrists[lead][0] - x), -0.07, 0.07)) if reach > 0.05 else 0.0
    height = float(spec.look.get("height", 0.40))
    center = np.array([x + sideways, PERSON_Y - lean, height - 0.4 * lean])
    half = float(spec.look.get("shoulder_half", 0.19))
    shoulders = {"right": center + np.array([-half, 0.02, -0.02]), "left": center + np.array([half, 0.02, -0.02])}
    elbows = {}
    for hand, s in shoulders.items():
        side = -1.0 if hand == "right" else 1.0
        elbows[hand] = two_bone(s, wrists[hand], ARM_UPPER, ARM_FORE, s + np.array([side * 0.35, 0.1, -0.3]))
    head = center + np.array([0.0, 0.03 + 0.3 * lean, 0.215])
    return PersonPose(center, head, shoulders, elbows, wrists, np.array([x, PERSON_Y + 0.04, -0.45]))


def draw_person_body(p: Painter, cam: Camera, spec: ActorSpec, pose: PersonPose, eid: int) -> None:
    look = spec.look
    shirt, skin, hair = look["shirt"], look["skin"], look["hair"]
    c, w = pose.center, pose.waist
    half = float(look.get("shoulder_half", 0.19))
    torso = np.array([
        c + [-half - 0.03, 0.02, -0.05], c + [-half + 0.03, 0.02, 0.03], c + [-0.07, 0.0, 0.05],
        c + [0.07, 0.0, 0.05], c + [half - 0.03, 0.02, 0.03], c + [half + 0.03, 0.02, -0.05],
        w + [half - 0.02, 0.0, 0.0], w + [-half + 0.02, 0.0, 0.0]])
    p.on(plane_through(torso))
    p.poly(cam.project(torso), shade(shirt, 0.8), eid)
    inner = (torso - torso.mean(axis=0)) * np.array([0.62, 1.0, 0.9]) + torso.mean(axis=0) + [-0.02, 0, 0.01]
    p.poly(cam.project(inner), shirt)
    solid(p, cam, c + [0, 0.01, 0.02], pose.head - [0, 0, 0.06], 0.045, 0.042, shade(skin, 0.85), eid)
    collar = np.array([c + [-0.06, -0.005, 0.05], c + [0.06, -0.005, 0.05], c + [0.0, -0.01, -0.02]])
    p.poly(cam.project(collar), shade(skin, 0.8))
    hc = cam.project(pose.head[None])[0]
    rx, ry = cam.pixels(0.082, pose.head), cam.pixels(0.108, pose.head)
    p.on(Capsule(pose.head - [0, 0, 0.026], pose.head + [0, 0, 0.026], 0.082, 0.082))
    if look.get("long_hair"):
        for side in (-1, 1):
            p.ellipse(hc + [side * rx * 0.72, ry * 0.5], (rx * 0.38, ry * 0.95), side * 8, shade(hair, 0.9), eid)
    p.ellipse(hc + [0, -ry * 0.25], (rx * 1.04, ry * 0.8), 0, hair, eid)
    p.ellipse(hc + [0, ry * 0.12], (rx * 0.86, ry * 0.82), 0, shade(skin, 0.85), eid)
    p.ellipse(hc + [-rx * 0.1, ry * 0.1], (rx * 0.66, ry * 0.7), 0, skin)
    p.ellipse(hc + [0, -ry * 0.5], (rx * 0.9, ry * 0.42), 0, hair)
    for side in (-1, 1):
        p.circle(hc + [side * rx * 0.38, ry * 0.12], max(rx * 0.09, 1.0), (40, 35, 35))
    p.line(np.array([hc + [-rx * 0.22, ry * 0.58], hc + [rx * 0.22, ry * 0.58]]), shade(skin, 0.6), max(rx * 0.06, 1))


def draw_person_arm(p: Painter, cam: Camera, spec: ActorSpec, pose: PersonPose, hand: str, eid: int) -> None:
    look = spec.look
    shirt, skin = look["shirt"], look["skin"]
    s, e, w = pose.shoulders[hand], pose.elbows[hand], pose.wrists[hand]
    capsule(p, cam, s, e, 0.05, 0.043, shirt, eid)
    fore = shirt if look.get("long_sleeves", True) else skin
    capsule(p, cam, e, w, 0.042, 0.032, fore, eid)
    d = w - e
    d = d / max(np.linalg.norm(d), 1e-6)
    center = w + d * 0.045
    ball(p, cam, center, 0.042, skin, eid, squash=0.9)
    side = 1.0 if hand == "right" else -1.0
    thumb = center + np.array([side * 0.03, -0.02, 0.01])
    p.on(Capsule(thumb, thumb, 0.016, 0.016))
    p.circle(cam.project(thumb[None])[0], cam.pixels(0.016, thumb), shade(skin, 0.9), eid)


def hand_center(pose: PersonPose, hand: str) -> np.ndarray:
    d = pose.wrists[hand] - pose.elbows[hand]
    return pose.wrists[hand] + d / max(np.linalg.norm(d), 1e-6) * 0.045


# ----------------------------------------------------------------------------------------------- robot

ROBOT_LINKS = (0.33, 0.31)
ROBOT_SHOULDER = 0.14
ROBOT_WRIST = 0.10          # wrist joint above the grip point between the fingers


@dataclass
class RobotPose:
    base: np.ndarray
    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    grip: np.ndarray
    opening: float


def robot_pose(spec: ActorSpec, state: dict[str, np.ndarray]) -> RobotPose:
    base = np.array([spec.base[0], spec.base[1], 0.0])
    shoulder = base + [0, 0, ROBOT_SHOULDER]
    grip = state["gripper"]
    wrist = grip + [0, 0, ROBOT_WRIST]
    outward = np.append(base[:2] - wrist[:2], 0.0)
    outward = outward / max(np.linalg.norm(outward), 1e-6)
    elbow = two_bone(shoulder, wrist, *ROBOT_LINKS, shoulder + [0, 0, 0.7] + outward * 0.2)
    return RobotPose(base, shoulder, elbow, wrist, grip, float(state["open"][0]))


def draw_robot_base(p: Painter, cam: Camera, spec: ActorSpec, pose: RobotPose, eid: int) -> None:
    dark = spec.look.get("dark", (58, 58, 62))
    disc(p, cam, pose.base + [0, 0, 0.002], 0.1, shade(dark, 0.8), eid)
    solid(p, cam, pose.base, pose.shoulder, 0.075, 0.065, dark, eid)


def draw_robot_arm(p: Painter, cam: Camera, spec: ActorSpec, pose: RobotPose, eid: int) -> None:
    link = spec.look.get("link", (215, 215, 210))
    dark = spec.look.get("dark", (58, 58, 62))
    accent = spec.look.get("accent", (170, 110, 40))
    ball(p, cam, pose.shoulder, 0.062, dark, eid)
    capsule(p, cam, pose.shoulder, pose.elbow, 0.048, 0.042, link, eid)
    ball(p, cam, pose.elbow, 0.05, accent, eid)
    capsule(p, cam, pose.elbow, pose.wrist, 0.04, 0.034, link, eid)
    ball(p, cam, pose.wrist, 0.038, dark, eid)
    palm = pose.grip + [0, 0, 0.05]
    solid(p, cam, pose.wrist, palm, 0.03, 0.03, dark, eid)
    gap = 0.018 + 0.05 * pose.opening
    across = np.array([1.0, 0.0, 0.0])
    solid(p, cam, palm - across * (gap / 2 + 0.016), palm + across * (gap / 2 + 0.016), 0.014, 0.014,
          shade(dark, 1.2), eid)
    for side in (-1, 1):
        top = palm + across * side * gap / 2
        capsule(p, cam, top, top + [0, 0, -0.085], 0.011, 0.009, (90, 90, 95), eid)


# ----------------------------------------------------------------------------------------------- objects

def draw_object(p: Painter, cam: Camera, spec: ObjectSpec, pose: ObjectPose, eid: int,
                fill: float = 0.0, liquid: Color = (60, 120, 200)) -> None:
    kind, color = spec.kind, spec.color
    base, axis = pose.base, pose.axis()
    r, h = kind.radius, kind.height
    if kind.shape == "sphere":
        center = base + axis * r
        ball(p, cam, center, r, color, eid, squash=0.95 if kind.label == "apple" else 1.0)
        top = center + [0, 0, r * 0.92]
        if kind.label == "apple":
            tip = cam.project(np.array([top, top + [0.006, -0.002, 0.018]]))
            p.line(tip, (30, 60, 90), max(cam.pixels(0.005, top), 1))
            leaf = cam.project(np.array([top + [0.006, 0, 0.012]]))[0]
            p.ellipse(leaf + [cam.pixels(0.012, top), 0], (cam.pixels(0.013, top), cam.pixels(0.006, top)), -20,
                      (50, 140, 60))
        else:
            p.circle(cam.project(top[None])[0], max(cam.pixels(0.006, top), 1), (40, 110, 110))
    elif kind.shape == "banana":
        _banana(p, cam, spec, pose, eid)
    elif kind.shape == "plate":
        edge = disc(p, cam, base + [0, 0, 0.0], r, shade(color, 0.72), eid)
        disc(p, cam, base + [0, 0, h], r, color, eid)
        disc(p, cam, base + [0, 0, h * 0.6], r * 0.68, shade(color, 0.93))
        p.line(np.vstack([edge, edge[:1]]), shade(color, 0.6), 1)
    elif kind.shape == "bowl":
        rim3 = _ring(base + [0, 0, h], r, np.array([0.0, 0.0, 1.0]), 28)
        rim = cam.project(rim3)
        bottom = cam.project(_ring(base, r * 0.55, np.array([0.0, 0.0, 1.0]), 28))
        p.on(_bowl_wall(spec, pose))
        p.poly(_hull(np.vstack([rim, bottom])), shade(color, 0.85), eid)
        p.on(Plane(base + [0, 0, 0.4 * h], np.array([0.0, 0.0, 1.0]), rim3[::7] - [0, 0, 0.6 * h]))
        p.poly(rim, shade(color, 0.6), eid)
        disc(p, cam, base + [0.01, 0.01, 0.012], r * 0.55, shade(color, 0.45))
        p.line(np.vstack([rim, rim[:1]]), shade(color, 1.3), max(cam.pixels(0.006, base), 1))
    elif kind.shape == "bottle":
        _bottle(p, cam, spec, pose, eid)
    elif kind.shape == "cup":
        top = base + axis * h
        handle_c = base + axis * h * 0.55 + np.array([r * 1.05, -0.01, 0.0])
        hp = cam.project(handle_c[None])[0]
        hr = cam.pixels(0.028, handle_c)
        cv2.ellipse(p.img, tuple(int(v) for v in hp), (max(int(hr * 0.8), 1), max(int(hr), 1)), 0, 0, 360,
                    shade(color, 0.8), max(int(cam.pixels(0.009, handle_c)), 1), cv2.LINE_AA)
        solid(p, cam, base, top, r * 0.82, r, color, eid)
        disc(p, cam, top, r, shade(color, 0.95), eid, axis=axis)
        inner = disc(p, cam, top, r * 0.86, shade(color, 0.55), axis=axis)
        if fill > 0:
            disc(p, cam, top - axis * h * (1 - fill) * 0.8, r * 0.84, liquid, axis=axis)
            p.line(np.vstack([inner, inner[:1]]), shade(color, 0.7), 1)


def draw_bowl_front(p: Painter, cam: Camera, spec: ObjectSpec, pose: ObjectPose, eid: int) -> None:
    """The near wall of a bowl again, over what lies in it: fruit in a bowl is seen only above the rim."""
    r, h, color = spec.kind.radius, spec.kind.height, spec.color
    ang = np.linspace(np.pi, 2 * np.pi, 15)
    ring = np.column_stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)])
    rim = cam.project(pose.base + ring * r + [0, 0, h])
    bottom = cam.project(pose.base + ring * r * 0.55)
    p.on(_bowl_wall(spec, pose))
    p.poly(np.vstack([rim, bottom[::-1]]), shade(color, 0.85), eid)
    p.line(rim, shade(color, 1.3), max(cam.pixels(0.006, pose.base), 1))


def _bowl_wall(spec: ObjectSpec, pose: ObjectPose) -> Capsule:
    """A bowl's outside, widening from its foot to its rim."""
    r, h = spec.kind.radius, spec.kind.height
    return Capsule(pose.base + [0, 0, 0.55 * r], pose.base + [0, 0, h - 0.3 * r], 0.55 * r, 0.9 * r)


def _banana(p: Painter, cam: Camera, spec: ObjectSpec, pose: ObjectPose, eid: int) -> None:
    r = spec.kind.radius
    t = np.linspace(-1.0, 1.0, 11)
    bend = 0.75
    local = np.column_stack([np.sin(t * bend) * 0.125, (1 - np.cos(t * bend)) * 0.125, np.zeros_like(t)])
    c, s = np.cos(spec.yaw), np.sin(spec.yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    center = pose.base + pose.axis() * r
    pts = center + local @ rot.T - (local @ rot.T).mean(axis=0)
    radii = r * (0.45 + 0.55 * np.cos(t * np.pi / 2))
    centre = cam.project(pts)
    px = np.array([cam.pixels(rr, q) for rr, q in zip(radii, pts, strict=True)])
    tangent = np.gradient(centre, axis=0)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
    if normal[len(normal) // 2, 1] > 0:       # the highlight goes on the upper (lit) side
        normal = -normal
    outline = np.vstack([centre + normal * px[:, None], (centre - normal * px[:, None])[::-1]])
    p.on(Plane(center, pose.axis(), pts))
    p.poly(outline, shade(spec.color, 0.72), eid)
    lit = np.vstack([centre + normal * px[:, None] * 0.85, (centre - normal * px[:, None] * 0.1)[::-1]])
    p.poly(lit, spec.color)
    shine = np.vstack([centre[2:-2] + normal[2:-2] * px[2:-2, None] * 0.6,
                       (centre[2:-2] + normal[2:-2] * px[2:-2, None] * 0.3)[::-1]])
    p.poly(shine, shade(spec.color, 1.12))
    for end in (pts[0], pts[-1]):
        p.circle(cam.project(end[None])[0], max(cam.pixels(r * 0.4, end), 1), (30, 70, 90))


def _bottle(p: Painter, cam: Camera, spec: ObjectSpec, pose: ObjectPose, eid: int) -> None:
    r, h, color = spec.kind.radius, spec.kind.height, spec.color
    b, u = pose.base, pose.axis()
    solid(p, cam, b, b + u * h * 0.62, r, r, color, eid)
    solid(p, cam, b + u * h * 0.25, b + u * h * 0.47, r * 1.01, r * 1.01, (230, 230, 228), eid)
    solid(p, cam, b + u * h * 0.62, b + u * h * 0.8, r, r * 0.42, color, eid)
    solid(p, cam, b + u * h * 0.8, b + u * h * 0.94, r * 0.42, r * 0.42, color, eid)
    solid(p, cam, b + u * h * 0.92, b + u * h, r * 0.48, r * 0.48, spec.kind.colors[0] if color != spec.kind.colors[0]
          else (40, 40, 180), eid)


def bottle_mouth(spec: ObjectSpec, pose: ObjectPose) -> np.ndarray:
    return pose.base + pose.axis() * spec.kind.height
