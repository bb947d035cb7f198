"""The scripted world: actor keyframes, object hand-offs, and the state of everything at any frame.

Motion is keyframed in frames (not seconds) so that every change the ground truth records (a hand closing on an
object, an object coming to rest, a bottle reaching its pouring tilt) falls exactly on a rendered frame.
Between keys, positions follow a minimum-jerk profile: reaches start and stop smoothly, like human arm motion.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from merge_ros.synth.catalog import PERSON_Y, ObjectKind

PERSON = "person"
ROBOT = "robot"
ROBOT_HAND = "gripper"


def min_jerk(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


class Track:
    """Keyframed named vectors; a key repeats every value it does not change, so all values share key frames."""

    def __init__(self, frame: int, **values: np.ndarray | float) -> None:
        self.frames: list[int] = [frame]
        self.states: list[dict[str, np.ndarray]] = [{k: np.atleast_1d(np.asarray(v, float)) for k, v in values.items()}]

    @property
    def end(self) -> int:
        return self.frames[-1]

    @property
    def last(self) -> dict[str, np.ndarray]:
        return self.states[-1]

    def add(self, frame: int, **changes: np.ndarray | float) -> None:
        if frame < self.end:
            raise ValueError(f"key at frame {frame} precedes the last key ({self.end})")
        state = dict(self.last)
        state.update({k: np.atleast_1d(np.asarray(v, float)) for k, v in changes.items()})
        if frame == self.end:
            self.states[-1] = state
        else:
            self.frames.append(frame)
            self.states.append(state)

    def at(self, frame: float) -> dict[str, np.ndarray]:
        i = bisect.bisect_right(self.frames, frame)
        if i == 0:
            return self.states[0]
        if i == len(self.frames):
            return self.states[-1]
        f0, f1 = self.frames[i - 1], self.frames[i]
        s = min_jerk((frame - f0) / (f1 - f0))
        a, b = self.states[i - 1], self.states[i]
        return {k: a[k] + (b[k] - a[k]) * s for k in a}


@dataclass
class ActorSpec:
    id: str
    kind: str                       # PERSON or ROBOT
    base: np.ndarray                # person: shoulder-centre (x, y) at rest; robot: base (x, y) on the table
    look: dict = field(default_factory=dict)  # colours and sizes used by the renderer

    def hands(self) -> tuple[str, ...]:
        return ("right", "left") if self.kind == PERSON else (ROBOT_HAND,)


@dataclass
class ObjectSpec:
    id: str
    kind: ObjectKind
    position: np.ndarray            # base centre at the start (x, y, z)
    yaw: float = 0.0                # orientation on the table (bananas)
    color: tuple[int, int, int] = (128, 128, 128)
    support: str = ""               # ID of what it stands on at the start ("" = the table)

    @property
    def label(self) -> str:
        return self.kind.label


@dataclass(frozen=True)
class Holding:
    """From `frame` on, the object is held by (actor, hand) at a fixed grip offset, or rests at `rest` on `support`."""

    frame: int
    actor: str = ""
    hand: str = ""
    offset: np.ndarray | None = None   # wrist (or gripper) minus the grip point, while held
    rest: np.ndarray | None = None     # base centre while resting
    support: str = ""


@dataclass
class ObjectPose:
    base: np.ndarray
    tilt: float            # radians about the y axis, towards `tilt_dir` (+1: towards +x)
    tilt_dir: float
    actor: str             # holder, "" when resting
    support: str

    def axis(self) -> np.ndarray:
        return np.array([self.tilt_dir * np.sin(self.tilt), 0.0, np.cos(self.tilt)])


@dataclass
class WorldState:
    frame: int
    actors: dict[str, dict[str, np.ndarray]]
    objects: dict[str, ObjectPose]


class World:
    """Everything that happens in a scene, queryable per frame; built by merge_ros.synth.script."""

    def __init__(self, actors: list[ActorSpec], objects: list[ObjectSpec]) -> None:
        self.actors = {a.id: a for a in actors}
        self.objects = {o.id: o for o in objects}
        self.tracks: dict[str, Track] = {}
        for a in actors:
            if a.kind == PERSON:
                self.tracks[a.id] = Track(0, x=a.base[0], right=self.rest_hand(a, "right", a.base[0]),
                                          left=self.rest_hand(a, "left", a.base[0]))
            else:
                self.tracks[a.id] = Track(0, gripper=self.rest_hand(a, ROBOT_HAND, 0.0), open=1.0)
        self.holdings: dict[str, list[Holding]] = {
            o.id: [Holding(0, rest=o.position.copy(), support=o.support)] for o in objects}
        self.tilts: dict[str, Track] = {o.id: Track(0, tilt=0.0, dir=1.0) for o in objects}

    @staticmethod
    def rest_hand(actor: ActorSpec, hand: str, body_x: float) -> np.ndarray:
        """Where a hand waits between actions: persons rest their wrists on the far table edge, robots hover."""
        if actor.kind == PERSON:
            side = -1.0 if hand == "right" else 1.0   # a person faces the camera: their right is the image left
            return np.array([body_x + side * 0.17, PERSON_Y - 0.25, 0.035])
        bx, by = actor.base
        inward = -np.sign(bx) if bx else -1.0
        return np.array([bx + inward * 0.2, by - 0.05, 0.3])

    def hand_position(self, actor: str, hand: str, frame: float) -> np.ndarray:
        return self.tracks[actor].at(frame)[hand]

    def holding_at(self, obj: str, frame: float) -> Holding:
        hs = self.holdings[obj]
        i = bisect.bisect_right([h.frame for h in hs], frame)
        return hs[max(i - 1, 0)]

    def pose(self, obj: str, frame: float) -> ObjectPose:
        h = self.holding_at(obj, frame)
        t = self.tilts[obj].at(frame)
        tilt, tilt_dir = float(t["tilt"][0]), float(t["dir"][0])
        if not h.actor:
            return ObjectPose(h.rest.copy(), 0.0, tilt_dir, "", h.support)
        grip = self.hand_position(h.actor, h.hand, frame) - h.offset
        pose = ObjectPose(grip, tilt, tilt_dir, h.actor, "")
        pose.base = grip - pose.axis() * self.objects[obj].kind.grip_height
        return pose

    def state(self, frame: int) -> WorldState:
        return WorldState(frame, {a: t.at(frame) for a, t in self.tracks.items()},
                          {o: self.pose(o, frame) for o in self.objects})
