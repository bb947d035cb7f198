"""One non-trivial instance of each core type; float values are exact in float32 so round trips compare equal."""
from __future__ import annotations

import numpy as np

from merge_ros.types import (
    Box,
    Entity,
    EntityFrame,
    EntityKind,
    Event,
    Keypoint,
    ReasoningStatus,
    Relation,
    SceneState,
    Trigger,
)

STAMP_NS = 1_742_756_707_744_288_200


def person() -> Entity:
    return Entity("person_1", EntityKind.PERSON, "person", Box(10.5, 20.25, 200.0, 400.75), 0.875,
                  [Keypoint("left_wrist", 50.5, 300.25, 0.75), Keypoint("right_wrist", 150.0, 310.5, 0.5)],
                  track_id=7, track_age=12.5)


def robot() -> Entity:
    return Entity("robot_1", EntityKind.ROBOT, "robot arm", Box(400.0, 10.0, 630.0, 300.0), 1.0,
                  [Keypoint("gripper", 420.0, 290.0, 1.0)], track_id=-1, track_age=100.0)


def apple() -> Entity:
    return Entity("apple_1", EntityKind.OBJECT, "apple", Box(100.0, 350.0, 130.0, 380.0), 0.625)


def entity_frame() -> EntityFrame:
    return EntityFrame(STAMP_NS, "camera", [person(), robot(), apple()])


def trigger() -> Trigger:
    return Trigger(STAMP_NS, "camera", "person_1", "contact_start", "place_down", "apple_1", "on", "plate_2", True)


def event() -> Event:
    return Event(STAMP_NS + 5, "person_1", "place_down", "apple_1", "on", "plate_2", True, 0.75, "vlm",
                 "evt-000003", "trg-000002", "camera")


def relation() -> Relation:
    return Relation("apple_1", "on", "plate_2", STAMP_NS, "evt-000003")


def scene() -> SceneState:
    return SceneState(STAMP_NS + 9, "camera", [person(), robot(), apple()], [relation()], 3)


def status() -> ReasoningStatus:
    return ReasoningStatus(STAMP_NS, requests=5, dropped=2, malformed=1, timeouts=1, failures=0, in_flight=1)


def frame(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """A BGR frame with smooth content (JPEG-friendly) and a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx + yy) % 256], axis=-1)
    return np.clip(img + rng.integers(0, 8, img.shape), 0, 255).astype(np.uint8)


Path = list[tuple[float, tuple[float, float]]]


def at(path: Path, t: float) -> tuple[float, float]:
    """Position on a piecewise-linear path of (time, (x, y)) points (held constant outside it)."""
    if t <= path[0][0]:
        return path[0][1]
    for (ta, pa), (tb, pb) in zip(path, path[1:], strict=False):
        if t <= tb:
            f = (t - ta) / (tb - ta)
            return (pa[0] + f * (pb[0] - pa[0]), pa[1] + f * (pb[1] - pa[1]))
    return path[-1][1]
