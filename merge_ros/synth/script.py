"""Acting: turns "person_1 puts object_3 on object_5" into hand keyframes, hand-offs and ground-truth events.

Every actor has its own time cursor (a frame index); actions append keys at the cursor and move it on. Actions
involving two actors (handovers) first bring both cursors together. Ground truth is written where the world
changes: grasp at the frame the hand has closed (the object moves with the hand from the next frame),
place_down at the frame the object comes to rest, pour when the bottle reaches its pouring tilt over the cup,
handover when the receiver's hand has closed, idle when a person's hands are back at rest and empty.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from merge_ros.synth.catalog import PERSON_Y
from merge_ros.synth.render import Pour
from merge_ros.synth.timeline import PERSON, ROBOT_HAND, Holding, World
from merge_ros.vocabulary import GRASP, HANDOVER, IDLE, PLACE_DOWN, POUR

POUR_TILT = np.deg2rad(112.0)


@dataclass
class GtEvent:
    frame: int
    person: str
    action: str
    object: str = ""
    on: str = ""
    into: str = ""
    robot_interaction: bool = False

    def as_ground(self) -> dict:
        d = {"object": self.object, "action": self.action, "robot_interaction": self.robot_interaction,
             "on": self.on}
        if self.into:
            d["in"] = self.into
        return d


@dataclass
class Incident:
    """A realism feature that is not a ground-truth event (a detector should stay quiet) or changes visibility."""

    kind: str          # false_reach, pass_by, leave
    actor: str
    start: int
    end: int
    object: str = ""
    near: str = ""

    def as_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v != ""}


@dataclass
class Script:
    world: World
    fps: float
    n_frames: int
    rng: np.random.Generator
    gt: list[GtEvent] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    pours: list[Pour] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cursor = {a: 0 for a in self.world.actors}
        self.placed: dict[str, int] = {}
        for pid, a in self.world.actors.items():
            if a.kind == PERSON:
                self.gt.append(GtEvent(0, pid, IDLE))

    # ------------------------------------------------------------------ time
    def frames(self, seconds: float, vary: float = 0.15) -> int:
        factor = 1.0 + (self.rng.uniform(-vary, vary) if vary else 0.0)
        return max(1, int(round(seconds * factor * self.fps)))

    def fits(self, actor: str, seconds: float) -> bool:
        """Whether an action of about `seconds` ends before the scene does (with room for slower variants)."""
        return self.cursor[actor] + seconds * self.fps * 1.15 <= self.n_frames - self.fps * 0.5

    def wait(self, actor: str, seconds: float) -> None:
        self.wait_until(actor, self.cursor[actor] + self.frames(seconds))

    def wait_until(self, actor: str, frame: int) -> None:
        if frame > self.cursor[actor]:
            self.world.tracks[actor].add(frame)
            self.cursor[actor] = frame

    def _move(self, actor: str, frames: int, **values: np.ndarray | float) -> int:
        self.cursor[actor] += max(frames, 1)
        self.world.tracks[actor].add(self.cursor[actor], **values)
        return self.cursor[actor]

    # ------------------------------------------------------------------ geometry
    def is_person(self, actor: str) -> bool:
        return self.world.actors[actor].kind == PERSON

    def body_x(self, actor: str) -> float:
        return float(self.world.tracks[actor].last["x"][0])

    def hand_now(self, actor: str, hand: str) -> np.ndarray:
        return self.world.tracks[actor].last[hand].copy()

    def hand_toward(self, actor: str, point: np.ndarray) -> str:
        if not self.is_person(actor):
            return ROBOT_HAND
        return "right" if point[0] < self.body_x(actor) else "left"

    def grip_offset(self, actor: str, hand: str, grip: np.ndarray) -> np.ndarray:
        """Wrist minus grip point: a person's wrist sits behind the object on their own side, a gripper on it."""
        if not self.is_person(actor):
            return np.zeros(3)
        side = -0.17 if hand == "right" else 0.17
        toward = np.array([self.body_x(actor) + side, PERSON_Y]) - grip[:2]
        toward /= max(np.linalg.norm(toward), 1e-6)
        return np.array([toward[0] * 0.06, toward[1] * 0.06, 0.03])

    def latest(self, obj: str) -> Holding:
        """The object's state after everything scripted so far: where it rests, or who holds it."""
        return self.world.holdings[obj][-1]

    def grip_point(self, obj: str) -> np.ndarray:
        h = self.latest(obj)
        if h.actor:
            raise ValueError(f"{obj} is held by {h.actor}; it has no resting grip point")
        return h.rest + np.array([0.0, 0.0, self.world.objects[obj].kind.grip_height])

    def slot_on(self, support: str) -> np.ndarray:
        """Where the next object placed on a support rests (base centre): spread on a golden-angle spiral."""
        base = self.world.holdings[support][-1].rest
        kind = self.world.objects[support].kind
        i = self.placed.get(support, 0)
        self.placed[support] = i + 1
        spread = kind.radius * (0.38 if kind.container else 0.5)
        ang = i * 2.39996 + float(self.rng.uniform(-0.3, 0.3))
        if i == 0:
            r = 0.4 * spread if kind.container else 0.0
        else:
            r = spread
        return np.array([base[0] + r * np.cos(ang), base[1] + r * np.sin(ang), base[2] + kind.support_height])

    def _set_gripper(self, actor: str, frames: int, opening: float) -> None:
        if self.is_person(actor):
            self.wait_until(actor, self.cursor[actor] + frames)
        else:
            self._move(actor, frames, open=opening)

    # ------------------------------------------------------------------ actions
    def pick(self, actor: str, obj: str, reach_s: float = 1.1) -> str:
        """Reach from above and close the hand; returns the hand used."""
        grip = self.grip_point(obj)
        hand = self.hand_toward(actor, grip)
        off = self.grip_offset(actor, hand, grip)
        wrist = grip + off
        self._move(actor, self.frames(reach_s * 0.75), **{hand: wrist + [0.0, 0.0, 0.08]})
        self._move(actor, self.frames(0.3, 0.0), **{hand: wrist})
        self._set_gripper(actor, self.frames(0.25, 0.0), 0.0)
        k = self.cursor[actor]
        self.world.holdings[obj].append(Holding(k, actor, hand, off))
        if self.is_person(actor):
            self.gt.append(GtEvent(k, actor, GRASP, obj))
        return hand

    def place(self, actor: str, hand: str, obj: str, support: str = "", at: np.ndarray | None = None,
              via: str = "") -> None:
        """Carry the held object (optionally past `via` without letting go) and set it down on `support`."""
        held = self.latest(obj)
        if held.actor != actor:
            raise ValueError(f"{actor} does not hold {obj}")
        gh = self.world.objects[obj].kind.grip_height
        base = self.slot_on(support) if support else np.asarray(at, float)
        wrist = base + [0.0, 0.0, gh] + held.offset
        self._move(actor, self.frames(0.35), **{hand: self.hand_now(actor, hand) + [0.0, 0.0, 0.1]})
        if via:
            self.pass_over(actor, hand, obj, via)
        dist = float(np.linalg.norm(self.hand_now(actor, hand)[:2] - wrist[:2]))
        self._move(actor, self.frames(0.7 + 1.4 * dist), **{hand: wrist + [0.0, 0.0, 0.09]})
        k = self._move(actor, self.frames(0.35, 0.0), **{hand: wrist})
        self.world.holdings[obj].append(Holding(k, rest=base, support=support))
        if self.is_person(actor):
            into = support if support and self.world.objects[support].kind.container else ""
            self.gt.append(GtEvent(k, actor, PLACE_DOWN, obj, on=support, into=into))
        self._set_gripper(actor, self.frames(0.2, 0.0), 1.0)

    def pass_over(self, actor: str, hand: str, obj: str, via: str) -> None:
        """Carry the held object just above another one and linger: near it, but not put on or into it."""
        held = self.latest(obj)
        spec = self.world.objects[via]
        grip_h = self.world.objects[obj].kind.grip_height
        top = self.latest(via).rest + [0.0, 0.0, spec.kind.height + grip_h + 0.05]
        start = self._move(actor, self.frames(0.9), **{hand: top + held.offset})
        self.wait(actor, 0.5)
        self.incidents.append(Incident("pass_by", actor, start, self.cursor[actor], obj, via))

    def retract(self, actor: str, hand: str) -> None:
        """Lift the hand off and bring it back to rest; a person with empty hands is idle from then on."""
        self._move(actor, self.frames(0.25), **{hand: self.hand_now(actor, hand) + [0.0, 0.0, 0.06]})
        rest = self.world.rest_hand(self.world.actors[actor], hand, self.body_x(actor) if self.is_person(actor) else 0)
        k = self._move(actor, self.frames(0.9), **{hand: rest})
        if self.is_person(actor) and not self.holds_anything(actor):
            last = [e for e in self.gt if e.person == actor][-1]
            if last.action != IDLE:
                self.gt.append(GtEvent(k, actor, IDLE))

    def holds_anything(self, actor: str) -> bool:
        return any(hs[-1].actor == actor for hs in self.world.holdings.values())

    def move_object(self, actor: str, obj: str, support: str = "", at: np.ndarray | None = None,
                    via: str = "") -> None:
        """The basic sorting move: pick, carry (perhaps past `via`), place on `support` or at `at`, retract."""
        hand = self.pick(actor, obj)
        self.place(actor, hand, obj, support, at, via)
        self.retract(actor, hand)

    def false_reach(self, actor: str, obj: str) -> None:
        """Approach an object as if to take it, hover, withdraw: no event."""
        grip = self.grip_point(obj)
        hand = self.hand_toward(actor, grip)
        start = self.cursor[actor]
        self._move(actor, self.frames(0.9), **{hand: grip + self.grip_offset(actor, hand, grip) + [0, 0, 0.07]})
        self.wait(actor, 0.5)
        self.retract(actor, hand)
        self.incidents.append(Incident("false_reach", actor, start, self.cursor[actor], obj))

    def leave_and_return(self, actor: str, away_s: float = 2.5) -> None:
        """Walk sideways out of view and come back: the person is absent from the frames in between."""
        a = self.world.actors[actor]
        x0 = self.body_x(actor)
        side = 1.0 if x0 > 0 else -1.0
        out = side * 1.6
        start = self.cursor[actor]
        walk = self.frames(1.6)
        self._move(actor, walk, x=out, right=self.world.rest_hand(a, "right", out),
                   left=self.world.rest_hand(a, "left", out))
        self.wait(actor, away_s)
        self._move(actor, walk, x=x0, right=self.world.rest_hand(a, "right", x0),
                   left=self.world.rest_hand(a, "left", x0))
        self.incidents.append(Incident("leave", actor, start, self.cursor[actor]))

    def pour_held(self, actor: str, hand: str, bottle: str, cup: str, liquid: tuple[int, int, int],
                  via: str = "") -> None:
        """Tilt the held bottle over the cup (optionally first carrying it over `via` without pouring)."""
        kind = self.world.objects[bottle].kind
        cup_rest = self.latest(cup).rest
        off = self.latest(bottle).offset
        direction = 1.0 if cup_rest[0] >= self.hand_now(actor, hand)[0] - off[0] else -1.0
        arm = kind.height - kind.grip_height
        mouth = cup_rest + [0.0, 0.0, self.world.objects[cup].kind.height + 0.035]
        grip = mouth - np.array([direction * np.sin(POUR_TILT) * arm, 0.0, np.cos(POUR_TILT) * arm])
        self._move(actor, self.frames(0.35), **{hand: self.hand_now(actor, hand) + [0.0, 0.0, 0.08]})
        if via:
            self.pass_over(actor, hand, bottle, via)
        self._move(actor, self.frames(1.2), **{hand: grip + off})
        tilts = self.world.tilts[bottle]
        tilts.add(self.cursor[actor], dir=direction)
        full = self.cursor[actor] + self.frames(0.8)
        tilts.add(full, tilt=POUR_TILT)
        self.wait_until(actor, full)
        self.gt.append(GtEvent(full, actor, POUR, bottle, on=cup, into=cup))
        self.wait(actor, 2.0)
        end = self.cursor[actor]
        back = end + self.frames(0.8)
        tilts.add(back, tilt=0.0)
        self.wait_until(actor, back)
        self.pours.append(Pour(bottle, cup, full, end, liquid))

    def handover(self, giver: str, receiver: str, obj: str) -> str:
        """Giver takes the object to a point between both; the receiver's hand closes on it there.

        Ground truth lists persons only: the receiving person gets the handover event; when the robot receives,
        the giving person gets it. robot_interaction is true whenever the robot is one of the two.
        """
        gives = self.pick(giver, obj) if self.latest(obj).actor != giver else self.latest(obj).hand
        g_hand = self.hand_now(giver, gives)
        r_rest = self._rest_point(receiver)
        meet = np.array([(g_hand[0] + r_rest[0]) / 2, min(0.5, (g_hand[1] + r_rest[1]) / 2), 0.2])
        off_g = self.latest(obj).offset
        self._move(giver, self.frames(0.35), **{gives: g_hand + [0.0, 0.0, 0.08]})
        self._move(giver, self.frames(1.1), **{gives: meet + off_g})
        takes = self.hand_toward(receiver, meet)
        off_r = self.grip_offset(receiver, takes, meet)
        reach = self.frames(1.0)
        self.wait_until(receiver, self.cursor[giver] - reach // 2)
        self._move(receiver, reach, **{takes: meet + off_r})
        self.wait_until(giver, self.cursor[receiver])
        self._set_gripper(receiver, self.frames(0.3, 0.0), 0.0)
        k = self.cursor[receiver]
        self.wait_until(giver, k)
        self.world.holdings[obj].append(Holding(k, receiver, takes, off_r))
        robot = not (self.is_person(giver) and self.is_person(receiver))
        person = receiver if self.is_person(receiver) else giver
        self.gt.append(GtEvent(k, person, HANDOVER, obj, robot_interaction=robot))
        self._set_gripper(giver, self.frames(0.2, 0.0), 1.0)
        self.retract(giver, gives)
        return takes

    def _rest_point(self, actor: str) -> np.ndarray:
        a = self.world.actors[actor]
        hand = a.hands()[0]
        return self.world.rest_hand(a, hand, self.body_x(actor) if a.kind == PERSON else 0.0)
