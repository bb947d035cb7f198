"""The three GROUND-like scenarios: who stands where, what lies on the table, and what everyone does.

Each scenario lays out the table (containers farther from the camera, fruit nearer, so that reaching arms pass
over things) and then directs the actors with merge_ros.synth.script until the scene's time is used up. The
realism incidents (an arm occluding an object, a reach that does not grasp, an object carried over another
container, a person leaving and returning) are placed where the scene's duration allows them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from merge_ros.synth.catalog import FRUITS, HAIR_COLORS, KINDS, PERSON_Y, SCENARIOS, SHIRT_COLORS, SKIN_TONES
from merge_ros.synth.realism import Realism
from merge_ros.synth.script import Script
from merge_ros.synth.timeline import PERSON, ROBOT, ActorSpec, ObjectSpec

LIQUIDS = ((40, 150, 245), (70, 60, 50), (200, 180, 150))   # juice, cola, water (BGR)
CYCLE_S = 5.2          # nominal duration of one pick-carry-place-retract
PASS_BY_S = 1.4
FALSE_REACH_S = 2.6
LEAVE_S = 4.8
HANDOVER_S = 7.0       # giver's pick and carry, the transfer, the receiver's place and retract
POUR_S = 8.5


@dataclass
class Setup:
    actors: list[ActorSpec]
    objects: list[ObjectSpec]
    act: Callable[[Script], None]


def build(scenario: str, rng: np.random.Generator, persons: int, robot: bool, realism: Realism) -> Setup:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    if not 1 <= persons <= 3:
        raise ValueError("persons must be 1, 2 or 3")
    if scenario == "handover" and persons < 2 and not robot:
        raise ValueError("a handover needs two actors: use persons >= 2 or a robot")
    actors = _cast(rng, persons, robot)
    table = _Table(rng)
    return {"sorting": _sorting, "pouring": _pouring, "handover": _handover}[scenario](rng, actors, table, realism)


# ----------------------------------------------------------------------------------------------- cast

def _cast(rng: np.random.Generator, persons: int, robot: bool) -> list[ActorSpec]:
    side = float(rng.choice([-1.0, 1.0])) if robot else 0.0
    spots = {1: [0.0], 2: [-0.34, 0.34], 3: [-0.5, 0.0, 0.5]}[persons]
    scale = 0.8 if robot else 1.0
    shirts = rng.permutation(len(SHIRT_COLORS))
    actors = []
    for i, s in enumerate(spots):
        x = s * scale - side * 0.14 + float(rng.uniform(-0.05, 0.05))
        look = {"shirt": SHIRT_COLORS[shirts[i]], "skin": SKIN_TONES[rng.integers(len(SKIN_TONES))],
                "hair": HAIR_COLORS[rng.integers(len(HAIR_COLORS))], "long_sleeves": bool(rng.random() < 0.6),
                "long_hair": bool(rng.random() < 0.35), "height": float(rng.uniform(0.37, 0.43)),
                "shoulder_half": float(rng.uniform(0.17, 0.2))}
        actors.append(ActorSpec(f"person_{i + 1}", PERSON, np.array([x, PERSON_Y]), look))
    if robot:
        accent = ((170, 110, 40), (40, 120, 230), (60, 60, 60))[rng.integers(3)]
        actors.append(ActorSpec("robot_1", ROBOT, np.array([side * 0.66, 0.42]), {"accent": accent}))
    return actors


def _shoulder(actor: ActorSpec, x: float) -> np.ndarray:
    side = -0.17 if x < actor.base[0] else 0.17
    return np.array([actor.base[0] + side, PERSON_Y])


# ----------------------------------------------------------------------------------------------- layout

@dataclass
class _Item:
    role: str
    label: str
    pos: np.ndarray
    yaw: float


@dataclass
class _Table:
    """Rejection-sampled, non-overlapping placement of objects; IDs are handed out in random order at the end."""

    rng: np.random.Generator
    items: list[_Item] = field(default_factory=list)
    keep_out: list[tuple[float, float, float]] = field(default_factory=list)

    @staticmethod
    def footprint(label: str) -> float:
        return 0.095 if label == "banana" else KINDS[label].radius

    def free(self, label: str, x: float, y: float) -> bool:
        r = self.footprint(label)
        if abs(x) > 0.72 - r or not r < y < 0.78 - r:
            return False
        for it in self.items:
            if np.hypot(it.pos[0] - x, it.pos[1] - y) < r + self.footprint(it.label) + 0.025:
                return False
        return all(np.hypot(kx - x, ky - y) >= r + kr for kx, ky, kr in self.keep_out)

    def put(self, role: str, label: str, x: float, y: float) -> str:
        self.items.append(_Item(role, label, np.array([x, y, 0.0]), float(self.rng.uniform(-np.pi, np.pi))))
        return role

    def sample(self, role: str, label: str, xs: tuple[float, float], ys: tuple[float, float]) -> str | None:
        for _ in range(300):
            x, y = float(self.rng.uniform(*xs)), float(self.rng.uniform(*ys))
            if self.free(label, x, y):
                return self.put(role, label, x, y)
        return None

    def blocker_behind(self, role: str, label: str, target: str, actor: ActorSpec) -> str | None:
        """An object on the line from the target to the reaching shoulder: the arm will pass over it."""
        t = self.pos(target)
        s = _shoulder(actor, float(t[0]))
        u = (s - t[:2]) / np.linalg.norm(s - t[:2])
        for dist in (0.19, 0.22, 0.25, 0.17, 0.28):
            x, y = t[:2] + u * dist
            if self.free(label, float(x), float(y)):
                return self.put(role, label, float(x), float(y))
        return None

    def pos(self, role: str) -> np.ndarray:
        return next(it.pos for it in self.items if it.role == role)

    def finish(self) -> tuple[list[ObjectSpec], dict[str, str]]:
        order = self.rng.permutation(len(self.items))
        ids, specs = {}, []
        for k, i in enumerate(order):
            it = self.items[i]
            kind = KINDS[it.label]
            oid = f"object_{k + 1}"
            ids[it.role] = oid
            color = kind.colors[self.rng.integers(len(kind.colors))]
            specs.append(ObjectSpec(oid, kind, it.pos.copy(), it.yaw, color))
        return sorted(specs, key=lambda s: int(s.id.split("_")[1])), ids


def _fruit(rng: np.random.Generator) -> str:
    return str(rng.choice(FRUITS, p=[0.4, 0.35, 0.25]))


def _fruit_near(table: _Table, role: str, x: float, ys: tuple[float, float] = (0.1, 0.36)) -> str | None:
    return table.sample(role, _fruit(table.rng), (x - 0.22, x + 0.22), ys)


def _robot_keep_out(table: _Table, actors: list[ActorSpec]) -> None:
    for a in actors:
        if a.kind == ROBOT:
            table.keep_out.append((float(a.base[0]), float(a.base[1]), 0.14))


def _containers(table: _Table, n: int, labels: list[str]) -> list[str]:
    roles = []
    centers = np.linspace(-0.42, 0.42, n) if n > 1 else np.array([0.0])
    for i, (cx, label) in enumerate(zip(centers, labels, strict=True)):
        role = table.sample(f"container{i}", label, (cx - 0.1, cx + 0.1), (0.5, 0.64)) or table.sample(
            f"container{i}", label, (-0.6, 0.6), (0.42, 0.66))
        if role is None:
            raise RuntimeError("could not lay out the table (containers)")
        roles.append(role)
    return roles


# ----------------------------------------------------------------------------------------------- directing

class _Director:
    """Runs each actor's work queue, inserting the pending realism incidents where they fit."""

    def __init__(self, sc: Script, realism: Realism, leaver: str) -> None:
        self.sc, self.leaver = sc, leaver
        self.rng = sc.rng
        self.pending = {k for k, on in (("false_reach", realism.false_reaches), ("pass_by", realism.pass_by),
                                        ("leave", realism.leave_return)) if on}
        self.queues: dict[str, list[str]] = {}
        self.target: dict[str, str] = {}
        self.containers: list[str] = []

    def cycle(self, actor: str) -> bool:
        """One pick-carry-place of the actor's next object; False when there is none or no time left."""
        sc, q = self.sc, self.queues.get(actor, [])
        if not q:
            return False
        obj, support = q[0], self.target[q[0]]
        self.false_reach_first(actor, q[1] if len(q) > 1 else support, CYCLE_S)
        if not sc.fits(actor, CYCLE_S):
            return False
        q.pop(0)
        sc.move_object(actor, obj, support=support, via=self.via(actor, support, CYCLE_S))
        self.after(actor)
        return True

    def via(self, actor: str, support: str, then_s: float) -> str:
        """Another container within the person's reach to carry the object over on the way to `support` (always
        until one pass-by happened, then now and then), or "" when there is none, no time, or the actor is a robot."""
        sc = self.sc
        if not sc.is_person(actor):
            return ""
        x = sc.body_x(actor)
        others = [c for c in self.containers if c != support and abs(sc.latest(c).rest[0] - x) < 0.55]
        if not (others and sc.fits(actor, then_s + PASS_BY_S)):
            return ""
        if "pass_by" not in self.pending and self.rng.random() >= 0.25:
            return ""
        self.pending.discard("pass_by")
        return min(others, key=lambda c: float(np.linalg.norm(sc.latest(c).rest[:2] - sc.latest(support).rest[:2])))

    def put_first(self, actor: str, obj: str) -> None:
        """Make `obj` the actor's next task (the occluding layout is built around that first reach)."""
        for q in self.queues.values():
            if obj in q:
                q.remove(obj)
        self.queues[actor].insert(0, obj)

    def put_last(self, obj: str) -> None:
        """Move `obj` to the end of its owner's queue (the occluded object must still lie there when occluded)."""
        for q in self.queues.values():
            if obj in q:
                q.remove(obj)
                q.append(obj)

    def false_reach_first(self, actor: str, decoy: str, then_s: float) -> None:
        """If no reach-without-grasp happened yet and there is time, reach for `decoy` and withdraw first."""
        if self.sc.is_person(actor) and "false_reach" in self.pending and self.sc.fits(actor, then_s + FALSE_REACH_S):
            self.sc.false_reach(actor, decoy)
            self.pending.discard("false_reach")

    def after(self, actor: str) -> None:
        """Between tasks: perhaps leave the room for a while, then pause."""
        if actor == self.leaver and "leave" in self.pending and self.sc.fits(actor, LEAVE_S):
            self.sc.leave_and_return(actor, away_s=float(self.rng.uniform(1.8, 2.6)))
            self.pending.discard("leave")
        self.sc.wait(actor, float(self.rng.uniform(0.3, 1.3)))

    def fill(self, actors: list[str]) -> None:
        """Keep every actor busy with its own queue; actors take turns so shared incidents spread out."""
        active = list(actors)
        while active:
            active = [a for a in active if self.cycle(a)]


def _assign(sc_actors: list[ActorSpec], table: _Table, roles: list[str], ids: dict[str, str],
            goal: Callable[[str], np.ndarray] | None = None) -> dict[str, list[str]]:
    """Give each object to the actor nearest to it and to where it must go (robots only within reach)."""
    queues: dict[str, list[str]] = {a.id: [] for a in sc_actors}
    for role in roles:
        p = table.pos(role)
        dest = goal(role) if goal else p
        best, cost = None, np.inf
        for a in sc_actors:
            if a.kind == ROBOT:
                d = max(float(np.hypot(*(p[:2] - a.base))), float(np.hypot(*(dest[:2] - a.base))))
                c = d if d < 0.62 else np.inf
            else:
                c = abs(float(p[0] - a.base[0])) + 0.6 * abs(float(dest[0] - a.base[0])) + 0.05 * len(queues[a.id])
            if c < cost:
                best, cost = a.id, c
        if best is not None:
            queues[best].append(ids[role])
    return queues


def _persons(actors: list[ActorSpec]) -> list[ActorSpec]:
    return [a for a in actors if a.kind == PERSON]


def _robot(actors: list[ActorSpec]) -> ActorSpec | None:
    return next((a for a in actors if a.kind == ROBOT), None)


def _leaver(actors: list[ActorSpec]) -> str:
    persons = _persons(actors)
    robot = _robot(actors)
    if robot is None:
        return max(persons, key=lambda a: abs(a.base[0])).id
    return min(persons, key=lambda a: a.base[0] * np.sign(robot.base[0])).id


def _nearest_person(actors: list[ActorSpec], x: float) -> ActorSpec:
    return min(_persons(actors), key=lambda a: abs(a.base[0] - x))


def _start(sc: Script, actors: list[ActorSpec]) -> None:
    for a in actors:
        sc.wait(a.id, float(sc.rng.uniform(0.6, 1.8)))


# ----------------------------------------------------------------------------------------------- sorting

def _sorting(rng: np.random.Generator, actors: list[ActorSpec], table: _Table, realism: Realism) -> Setup:
    persons, robot = _persons(actors), _robot(actors)
    _robot_keep_out(table, actors)
    first = persons[0]
    fruits = [_fruit_near(table, "fruit0", float(first.base[0]), (0.12, 0.22))]
    if realism.occluding_layout and fruits[0]:
        table.blocker_behind("blocker", _fruit(rng), "fruit0", first)
    n_c = 3 if len(persons) == 3 else 2
    labels = ["plate"] + [str(rng.choice(["bowl", "plate"])) for _ in range(n_c - 1)]
    containers = _containers(table, n_c, labels)
    n_fruit = 2 * len(persons) + (3 if robot else 0) + 2
    for i in range(1, n_fruit):
        fruits.append(table.sample(f"fruit{i}", _fruit(rng), (-0.64, 0.64), (0.1, 0.4)))
    fruit_roles = [f for f in fruits if f]
    specs, ids = table.finish()
    by_label = rng.permutation(len(FRUITS))
    sort_role = {lab: containers[by_label[i] % n_c] for i, lab in enumerate(FRUITS)}
    label_of = {it.role: it.label for it in table.items}

    def act(sc: Script) -> None:
        d = _Director(sc, realism, _leaver(actors))
        d.containers = [ids[c] for c in containers]
        queue_roles = fruit_roles + (["blocker"] if "blocker" in ids else [])
        d.queues = _assign(actors, table, queue_roles, ids, lambda r: table.pos(sort_role[label_of[r]]))
        if "fruit0" in ids:
            d.put_first(first.id, ids["fruit0"])
        if "blocker" in ids:
            d.put_last(ids["blocker"])
        d.target = {ids[r]: ids[sort_role[label_of[r]]] for r in queue_roles}
        _start(sc, actors)
        if robot is not None and d.queues[robot.id]:
            _robot_hands_over(sc, d, robot, actors)
        d.fill([a.id for a in actors])

    return Setup(actors, specs, act)


def _robot_hands_over(sc: Script, d: _Director, robot: ActorSpec, actors: list[ActorSpec]) -> None:
    """The robot passes its first object to the nearest person, who puts it where it belongs."""
    obj = d.queues[robot.id][0]
    receiver = _nearest_person(actors, float(robot.base[0])).id
    if not (sc.fits(robot.id, HANDOVER_S) and sc.fits(receiver, HANDOVER_S)):
        return
    d.queues[robot.id].pop(0)
    hand = sc.handover(robot.id, receiver, obj)
    sc.place(receiver, hand, obj, support=d.target[obj])
    sc.retract(receiver, hand)
    d.after(receiver)


# ----------------------------------------------------------------------------------------------- pouring

def _pouring(rng: np.random.Generator, actors: list[ActorSpec], table: _Table, realism: Realism) -> Setup:
    persons, robot = _persons(actors), _robot(actors)
    _robot_keep_out(table, actors)
    first = persons[0]
    if robot is not None:
        bx = float(robot.base[0]) * 0.55
        table.sample("bottle", "bottle", (bx - 0.1, bx + 0.1), (0.22, 0.4))
    else:
        table.sample("bottle", "bottle", (first.base[0] - 0.15, first.base[0] + 0.15), (0.14, 0.26))
    cups = []
    for i, p in enumerate(persons):
        cx = float(p.base[0]) + float(rng.choice([-0.18, 0.18]))
        cups.append(table.sample(f"cup{i}", "cup", (cx - 0.08, cx + 0.08), (0.3, 0.5)))
    if realism.occluding_layout and (target := "bottle" if robot is None else cups[0]):
        table.blocker_behind("blocker", _fruit(rng), target, first)
    spare = table.sample("cup_spare", "cup", (-0.6, 0.6), (0.3, 0.6))
    plate = _containers(table, 1, ["plate"])[0]
    fruits = [table.sample(f"fruit{i}", _fruit(rng), (-0.64, 0.64), (0.1, 0.42)) for i in range(len(persons) + 1)]
    specs, ids = table.finish()
    liquid = LIQUIDS[rng.integers(len(LIQUIDS))]

    def act(sc: Script) -> None:
        d = _Director(sc, realism, _leaver(actors))
        d.containers = [ids[plate]]
        roles = [f for f in fruits if f] + (["blocker"] if "blocker" in ids else [])
        d.queues = _assign(persons, table, roles, ids)
        d.target = {ids[r]: ids[plate] for r in roles}
        bottle = ids.get("bottle")
        my_cup = {p.id: ids[c] for p, c in zip(persons[:2], cups, strict=False) if c}
        pourers = list(my_cup)
        _start(sc, actors)
        if bottle is None or not pourers:
            d.fill([p.id for p in persons])
            return
        p1 = pourers[0]
        if robot is not None and sc.fits(p1, HANDOVER_S + POUR_S):
            hand = sc.handover(robot.id, p1, bottle)
        elif sc.fits(p1, POUR_S):
            d.false_reach_first(p1, ids[spare] if spare else my_cup[p1], POUR_S)
            hand = sc.pick(p1, bottle)
        else:
            d.fill([p.id for p in persons])
            return
        via = ids[spare] if spare and "pass_by" in d.pending and sc.fits(p1, POUR_S + PASS_BY_S) else ""
        sc.pour_held(p1, hand, bottle, my_cup[p1], liquid, via=via)
        if via:
            d.pending.discard("pass_by")
        holder = p1
        if len(pourers) > 1 and sc.fits(p1, HANDOVER_S + POUR_S - 2) and sc.fits(pourers[1], POUR_S):
            hand = sc.handover(p1, pourers[1], bottle)
            d.after(p1)
            holder = pourers[1]
            sc.pour_held(holder, hand, bottle, my_cup[holder], liquid)
        elif spare and sc.fits(p1, POUR_S):
            sc.pour_held(p1, hand, bottle, ids[spare], liquid)     # a second cup: same bottle, other target
        sc.place(holder, hand, bottle, at=table.pos("bottle"))
        sc.retract(holder, hand)
        d.after(holder)
        d.fill([p.id for p in persons])

    return Setup(actors, specs, act)


# ----------------------------------------------------------------------------------------------- handover

def _handover(rng: np.random.Generator, actors: list[ActorSpec], table: _Table, realism: Realism) -> Setup:
    persons, robot = _persons(actors), _robot(actors)
    _robot_keep_out(table, actors)
    first = persons[0]
    f0 = _fruit_near(table, "fruit0", float(first.base[0]), (0.12, 0.22))
    if realism.occluding_layout and f0:
        table.blocker_behind("blocker", _fruit(rng), "fruit0", first)
    labels = ["plate", "bowl"] if robot is not None or len(persons) < 3 else ["plate", "bowl", "plate"]
    containers = _containers(table, len(labels), labels)
    fruits = [f0] + [table.sample(f"fruit{i}", _fruit(rng), (-0.64, 0.64), (0.1, 0.4))
                     for i in range(1, 2 * len(persons) + (2 if robot else 0) + 2)]
    specs, ids = table.finish()

    def nearest_container(actor: ActorSpec) -> str:
        ref = actor.base[:2] if actor.kind == ROBOT else np.array([actor.base[0], 0.6])
        return ids[min(containers, key=lambda c: float(np.hypot(*(table.pos(c)[:2] - ref))))]

    def act(sc: Script) -> None:
        d = _Director(sc, realism, _leaver(actors))
        d.containers = [ids[c] for c in containers]
        roles = [f for f in fruits if f]
        d.queues = _assign(actors, table, roles + (["blocker"] if "blocker" in ids else []), ids)
        if f0:
            d.put_first(first.id, ids[f0])
        if "blocker" in ids:
            d.put_last(ids["blocker"])
        owner = {o: a for a, q in d.queues.items() for o in q}
        d.target = {o: nearest_container(next(x for x in actors if x.id == owner[o])) for o in owner}
        _start(sc, actors)
        pairs = _handover_pairs(actors)
        turn = 0
        while pairs:
            giver, receiver = pairs[turn % len(pairs)]
            turn += 1
            q = d.queues[giver.id]
            if not q or not (sc.fits(giver.id, HANDOVER_S) and sc.fits(receiver.id, HANDOVER_S)):
                pairs.remove((giver, receiver))
                continue
            d.false_reach_first(giver.id, q[1] if len(q) > 1 else nearest_container(giver), HANDOVER_S)
            obj = q.pop(0)
            hand = sc.handover(giver.id, receiver.id, obj)
            d.after(giver.id)
            target = nearest_container(receiver)
            sc.place(receiver.id, hand, obj, support=target, via=d.via(receiver.id, target, CYCLE_S - 2.0))
            sc.retract(receiver.id, hand)
            d.after(receiver.id)
            if turn >= 2 * len(_persons(actors)) + 1:
                break
        d.fill([a.id for a in actors])

    return Setup(actors, specs, act)


def _handover_pairs(actors: list[ActorSpec]) -> list[tuple[ActorSpec, ActorSpec]]:
    persons, robot = _persons(actors), _robot(actors)
    pairs = [(persons[i], persons[i + 1]) for i in range(len(persons) - 1)]
    pairs += [(b, a) for a, b in pairs]
    if robot is not None:
        near = _nearest_person(actors, float(robot.base[0]))
        pairs = [(robot, near), (near, robot)] + pairs
    return pairs
