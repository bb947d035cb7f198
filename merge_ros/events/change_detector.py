"""The streaming change detector: per frame of entities, which actor-object relations just changed.

It keeps, per actor, whether it is present and which objects its hands touch; per object, whether it moves, who
holds it and whether it is tilted; and turns changes of that state into Triggers. Every state is a
DebouncedSwitch (hysteresis + N consecutive frames), so jitter in boxes or keypoints does not fire anything, and
an entity missing from a frame (occlusion) keeps its state instead of being taken as gone.

Holding, in short: an object that starts to move while a hand touches it is picked up by that hand's actor. It
is placed when the holder's hand leaves it at rest (contact ends, or the hand visibly moves away while the object
stays), on/in whatever its box rests on. It is handed over when another actor's hand carries it off (or, hidden
in a gripper or hand, stays with the one that reached for it). It is poured from when an upright object held
still turns towards horizontal above another object. An object that vanishes and reappears elsewhere was carried
by the toucher whose hand moved the same way meanwhile.

Cost per frame is one vectorised hand-to-box distance matrix plus work proportional to the pairs of hands and
objects that are actually close, so it stays well under a millisecond or two for tens of actors and objects.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from merge_ros.box_arrays import boxes_array, point_box_distances
from merge_ros.events.config import ChangeDetectorConfig
from merge_ros.events.geometry import aspect, box_valid, object_scale, pour_target, support_of
from merge_ros.events.motion import Window, box_speed, point_shift
from merge_ros.events.switch import DebouncedSwitch
from merge_ros.events.tentative import (
    ACTOR_APPEARED,
    ACTOR_LEFT,
    CONTACT_END,
    CONTACT_START,
    OBJECT_MOVING,
    OBJECT_REST,
    OBJECT_TILTED,
    OBJECT_TRANSFER,
    REASONS,
    ROBOT_CONTACT,
    candidate_event,
    reasoning_needed,
)
from merge_ros.types import RELATION_IN, Box, Entity, EntityFrame, EntityKind, Event, Trigger, seconds_to_ns
from merge_ros.vocabulary import GRASP, HANDOVER, HOLD, IDLE, PLACE_DOWN, POUR

log = logging.getLogger(__name__)

_REASON_RANK = {r: i for i, r in enumerate(REASONS)}


@dataclass
class DetectorStats:
    """Counters for diagnostics (event_node publishes or logs them); nothing here changes behaviour."""

    frames: int = 0
    out_of_order: int = 0
    malformed_entities: int = 0
    duplicate_entities: int = 0
    suppressed_by_cooldown: int = 0
    triggers: Counter = field(default_factory=Counter)


@dataclass
class _Actor:
    entity: Entity
    scale: float
    last_seen_ns: int
    streak: int = 0
    present: bool = False
    hands: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    hand_names: list[str] = field(default_factory=list)  # keypoint name of each row of `hands`
    tracks: dict[str, Window] = field(default_factory=dict)  # recent positions of each hand


@dataclass
class _Contact:
    """One actor's hands near one object: the debounced contact state and what it was last seen to be."""

    switch: DebouncedSwitch
    distance: float = np.inf  # last normalised hand-object distance
    reached: bool = False  # made by a moving hand (reaching for it, not resting next to it)


@dataclass
class _Object:
    entity: Entity
    last_seen_ns: int
    moving: DebouncedSwitch
    tilt: DebouncedSwitch
    boxes: Window
    grip: Window  # the holder's gripping hand, to see it move away from the object
    holder: str = ""
    hand: str = ""  # keypoint name of the holder's gripping hand
    rest_aspect: float | None = None  # smoothed box aspect while at rest and free: the upright shape
    grasp_aspect: float = 1.0
    poured: bool = False  # a pour was reported for the current tilt
    touch_hands: dict[str, tuple[float, float]] = field(default_factory=dict)  # when last seen: toucher -> hand
    hidden_from: Box | None = None  # its last box before it went out of sight, set on the frame it is back
    released_by: str = ""  # who let go, while the outcome (placement or handover) is open
    released_ns: int = 0
    released_at: tuple[float, float] = (0.0, 0.0)  # box centre when let go
    await_taker: bool = False  # let go at rest while someone else touches it: wait for them to take it


class ChangeDetector:
    """Feed EntityFrames in stamp order with update(); it returns the triggers each frame fired.

    Not thread-safe: one caller (event_node's callback, or an offline loop) owns it.
    """

    def __init__(self, config: ChangeDetectorConfig | None = None):
        self.config = config or ChangeDetectorConfig()
        self.stats = DetectorStats()
        self._hand_names = frozenset(self.config.hand_keypoints)
        self._containers = tuple(s.lower() for s in self.config.container_labels)
        self._actors: dict[str, _Actor] = {}
        self._objects: dict[str, _Object] = {}
        self._contacts: dict[tuple[str, str], _Contact] = {}  # (actor, object) pairs whose hands are near
        self._meetings: dict[tuple[str, str], DebouncedSwitch] = {}  # (person, robot)
        self._last_fired: dict[tuple[str, str], int] = {}
        self._last_stamp_ns: int | None = None
        self._prev_stamp_ns: int | None = None
        self._pending: list[Trigger] = []
        self._frame: EntityFrame | None = None

    # ----------------------------------------------------------------------------------------------- public API

    def update(self, frame: EntityFrame) -> list[Trigger]:
        """Advance the state by one frame; a frame not newer than the last one is ignored and counted."""
        if self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            self.stats.out_of_order += 1
            return []
        self._prev_stamp_ns, self._last_stamp_ns = self._last_stamp_ns, frame.stamp_ns
        self.stats.frames += 1
        self._frame = frame
        self._pending = []
        actors, objects = self._split(frame.entities)
        now = frame.stamp_ns
        self._update_actors(actors, now)
        self._update_objects(objects, now)
        self._update_contacts(actors, objects)
        self._update_meetings(actors)
        self._update_holding(objects, now)
        self._expire(now)
        fired = sorted(self._pending, key=lambda t: (_REASON_RANK[t.reason], t.actor_id, t.object_id))
        self._pending = []
        self._resolve_state_actions(fired)
        return fired

    def candidate_event(self, trigger: Trigger) -> Event | None:
        """Perception's tentative relation for a trigger as a candidate Event (source perception), or None for
        triggers that are no event by themselves (contact, robot meeting, idle, appear, leave) and for a robot's
        own actions unless config.robot_events."""
        if self._robot_own(trigger):
            return None
        return candidate_event(trigger, self.config.candidate_confidence)

    def needs_reasoning(self, trigger: Trigger) -> bool:
        """Whether this trigger is worth a VLM request (see tentative.REASONING_REASONS for which and why); a
        robot's own actions are not, unless config.robot_events."""
        return reasoning_needed(trigger) and not self._robot_own(trigger)

    def _robot_own(self, trigger: Trigger) -> bool:
        return not self.config.robot_events and self._is_robot(trigger.actor_id)

    def tentative_actions(self) -> dict[str, str]:
        """What each present actor seems to be doing now, from geometry: pour, hold or idle."""
        out = {aid: IDLE for aid, a in self._actors.items() if a.present}
        for obj in self._objects.values():
            if obj.holder in out and out[obj.holder] != POUR:
                out[obj.holder] = POUR if obj.tilt.on else HOLD
        return out

    def held_objects(self) -> dict[str, list[str]]:
        """Objects each actor holds now (actor -> object IDs, sorted); actors holding nothing are left out."""
        out: dict[str, list[str]] = {}
        for oid, obj in sorted(self._objects.items()):
            if obj.holder:
                out.setdefault(obj.holder, []).append(oid)
        return out

    def contacts(self) -> dict[str, list[str]]:
        """Objects each actor's hands touch now (actor -> object IDs, sorted)."""
        out: dict[str, list[str]] = {}
        for (aid, oid), contact in sorted(self._contacts.items()):
            if contact.switch.on:
                out.setdefault(aid, []).append(oid)
        return out

    # ------------------------------------------------------------------------------------------------- per frame

    def _split(self, entities: list[Entity]) -> tuple[dict[str, Entity], dict[str, Entity]]:
        """Valid actors and objects of a frame by ID; malformed or repeated entities are counted and skipped."""
        actors: dict[str, Entity] = {}
        objects: dict[str, Entity] = {}
        for e in entities:
            try:
                kind = EntityKind(e.kind)
            except ValueError:
                kind = None
            if kind is None or not e.id or not box_valid(e.box):
                self.stats.malformed_entities += 1
                log.debug("skipping malformed entity %r", e.id)
                continue
            target = actors if kind.is_actor else objects
            if e.id in actors or e.id in objects:
                self.stats.duplicate_entities += 1
                continue
            target[e.id] = e
        return actors, objects

    def _update_actors(self, actors: dict[str, Entity], now: int) -> None:
        cfg = self.config
        for aid, e in actors.items():
            a = self._actors.get(aid)
            if a is None:
                a = self._actors[aid] = _Actor(entity=e, scale=0.0, last_seen_ns=now)
            a.entity = e
            a.last_seen_ns = now
            a.scale = max(e.box.height, cfg.min_actor_scale_px)
            visible = [k for k in e.keypoints if k.name in self._hand_names and k.score >= cfg.hand_min_score
                       and np.isfinite(k.x) and np.isfinite(k.y)]
            a.hands = np.array([(k.x, k.y) for k in visible], dtype=float).reshape(-1, 2)
            a.hand_names = [k.name for k in visible]
            for k in visible:
                a.tracks.setdefault(k.name, Window(seconds_to_ns(cfg.motion_window_s))).add(now, (k.x, k.y))
            a.streak += 1
            if not a.present and a.streak >= cfg.appear_frames:
                a.present = True
                self._fire(aid, ACTOR_APPEARED, IDLE)
        for aid, a in self._actors.items():
            if not a.present and aid not in actors:
                a.streak = 0  # appearing needs consecutive frames

    def _update_objects(self, objects: dict[str, Entity], now: int) -> None:
        cfg = self.config
        window = seconds_to_ns(cfg.motion_window_s)
        for oid, e in objects.items():
            o = self._objects.get(oid)
            if o is None:
                o = self._objects[oid] = _Object(
                    entity=e, last_seen_ns=now, moving=DebouncedSwitch(cfg.move_frames, cfg.rest_frames),
                    tilt=DebouncedSwitch(cfg.tilt_frames, cfg.tilt_frames), boxes=Window(window), grip=Window(window))
            else:
                if self._prev_stamp_ns is not None and o.last_seen_ns < self._prev_stamp_ns:
                    o.hidden_from = o.entity.box
                if now - o.last_seen_ns > seconds_to_ns(cfg.object_memory_s):
                    o.boxes.clear()
            o.entity = e
            o.last_seen_ns = now
            o.boxes.add(now, e.box)
            speed = box_speed(o.boxes, object_scale(e.box, cfg.min_object_scale_px))
            if speed is not None:
                o.moving.update(speed > cfg.move_enter, speed < cfg.move_exit)
            if not o.holder and not o.moving.on:
                shape = aspect(e.box)
                o.rest_aspect = shape if o.rest_aspect is None else 0.8 * o.rest_aspect + 0.2 * shape

    def _update_contacts(self, actors: dict[str, Entity], objects: dict[str, Entity]) -> None:
        """Hand-object contact for every actor with a visible hand and every object seen in this frame."""
        cfg = self.config
        seen = [a for aid in actors if (a := self._actors[aid]).present and len(a.hands)]
        if not seen:
            return
        self._leave_hidden(seen, objects)
        if not objects:
            return
        oids = list(objects)
        points = np.concatenate([a.hands for a in seen])
        owner = np.repeat(np.arange(len(seen)), [len(a.hands) for a in seen])
        dist = point_box_distances(points, boxes_array([objects[o].box for o in oids]))
        per_actor = np.full((len(seen), len(oids)), np.inf)
        np.minimum.at(per_actor, owner, dist)
        per_actor /= np.array([a.scale for a in seen])[:, None]
        near = {(int(i), int(j)) for i, j in np.argwhere(per_actor < cfg.contact_exit)}
        index_of_actor = {a.entity.id: i for i, a in enumerate(seen)}
        index_of_object = {o: j for j, o in enumerate(oids)}
        for aid, oid in list(self._contacts):
            i, j = index_of_actor.get(aid), index_of_object.get(oid)
            if i is not None and j is not None:
                near.add((i, j))
        for i, j in sorted(near):
            aid, oid = seen[i].entity.id, oids[j]
            d = float(per_actor[i, j])
            contact = self._contacts.get((aid, oid))
            if contact is None:
                contact = self._contacts[(aid, oid)] = _Contact(DebouncedSwitch(cfg.contact_frames,
                                                                                cfg.release_frames))
            contact.distance = d
            if contact.switch.update(d < cfg.contact_enter, d > cfg.contact_exit):
                self._contact_changed(aid, oid, contact)
            if contact.switch.idle:
                del self._contacts[(aid, oid)]

    def _leave_hidden(self, actors: list[_Actor], objects: dict[str, Entity]) -> None:
        """An object out of sight keeps its contacts, except that of several hands around it (an object hidden
        in a gripper that a person is handing it to), those that visibly move away from its last box while another
        stays there let go: the one that stays has it. When all move away, any of them may be carrying it out of
        sight, so all keep their contact."""
        cfg = self.config
        horizon = self._last_stamp_ns - seconds_to_ns(cfg.object_memory_s)
        visible = {a.entity.id: a for a in actors}
        for oid, who in sorted(self._touchers().items()):
            if len(who) < 2 or oid in objects or self._objects[oid].last_seen_ns < horizon:
                continue
            box = self._objects[oid].entity.box
            dist = {aid: float(point_box_distances(visible[aid].hands, boxes_array([box])).min()) / visible[aid].scale
                    for aid in sorted(who) if aid in visible}
            if not any(d <= cfg.contact_exit for d in dist.values()):
                continue
            for aid, d in dist.items():
                contact = self._contacts[(aid, oid)]
                if contact.switch.update(False, d > cfg.contact_exit):
                    self._contact_changed(aid, oid, contact)
                    del self._contacts[(aid, oid)]

    def _contact_changed(self, aid: str, oid: str, contact: _Contact) -> None:
        """The contact's switch just flipped: a reach (made by a moving hand) or a hand letting go."""
        if contact.switch.on:
            contact.reached = self._hand_moving(aid, oid)
            self._fire(aid, CONTACT_START, GRASP, oid)
        else:
            contact.reached = False
            self._fire(aid, CONTACT_END, None, oid)

    def _touching(self, oid: str) -> set[str]:
        """The actors whose hands touch the object now (their contact is on)."""
        return {aid for (aid, o), contact in self._contacts.items() if o == oid and contact.switch.on}

    def _touchers(self) -> dict[str, set[str]]:
        """_touching of every touched object at once."""
        out: dict[str, set[str]] = {}
        for (aid, oid), contact in self._contacts.items():
            if contact.switch.on:
                out.setdefault(oid, set()).add(aid)
        return out

    def _update_meetings(self, actors: dict[str, Entity]) -> None:
        """A robot meets a person: its gripper near one of their hands, or both touching the same object."""
        cfg = self.config
        robots = [self._actors[a] for a, e in actors.items() if e.kind == EntityKind.ROBOT]
        persons = [self._actors[a] for a, e in actors.items() if e.kind == EntityKind.PERSON]
        if not robots or not persons:
            return
        touchers = self._touchers()
        touched_by_robot = {oid for oid, who in touchers.items() for r in robots if r.entity.id in who}
        for p in persons:
            shared_objects = sorted(oid for oid in touched_by_robot if p.entity.id in touchers[oid])
            for r in robots:
                key = (p.entity.id, r.entity.id)
                shared = [oid for oid in shared_objects if r.entity.id in touchers[oid]]
                if len(p.hands) and len(r.hands):
                    d = float(np.linalg.norm(p.hands[:, None, :] - r.hands[None, :, :], axis=-1).min()) / p.scale
                else:
                    d = np.inf
                sw = self._meetings.get(key)
                if sw is None:
                    if not shared and d >= cfg.robot_hand_exit:
                        continue
                    sw = self._meetings[key] = DebouncedSwitch(cfg.contact_frames, cfg.release_frames)
                meets = sw.update(bool(shared) or d < cfg.robot_hand_enter, not shared and d > cfg.robot_hand_exit)
                if meets and sw.on:
                    obj = shared[0] if shared else ""
                    self._fire(p.entity.id, ROBOT_CONTACT, HANDOVER if shared else None, obj, robot=True)
                if sw.idle:
                    del self._meetings[key]

    def _update_holding(self, objects: dict[str, Entity], now: int) -> None:
        """Who holds what: pick-up, handover, pour and placement from contact, motion and tilt."""
        touchers = self._touchers()
        for oid, o in self._objects.items():
            touching = touchers.get(oid, set())
            seen = oid in objects
            if seen and o.hidden_from is not None:
                self._back_in_sight(o, touching)
            if o.released_by:
                self._after_release(o, touching, seen, now)
            elif not o.holder:
                if o.moving.on and touching:
                    self._pick_up(o, self._closest(touching, oid))
            else:
                self._while_held(o, touching, seen, now)
            if seen:
                o.touch_hands = {aid: self._nearest_hand(aid, o.entity.box) for aid in touching
                                 if len(self._actors[aid].hands)}

    def _back_in_sight(self, o: _Object, touching: set[str]) -> None:
        """An object that reappears elsewhere was carried while out of sight (a gripper or hand around it hides
        it): by whoever touched it before and touches it now with a hand that moved as far and the same way."""
        old, o.hidden_from = o.hidden_from, None
        moved = np.subtract(o.entity.box.center, old.center)
        if o.holder or np.hypot(*moved) <= object_scale(o.entity.box, self.config.min_object_scale_px):
            return
        best, best_err = "", 0.5 * float(np.hypot(*moved))
        for aid in sorted(touching & set(o.touch_hands)):
            if not len(self._actors[aid].hands):
                continue
            hand_moved = np.subtract(self._nearest_hand(aid, o.entity.box), o.touch_hands[aid])
            err = float(np.hypot(*(hand_moved - moved)))
            if err < best_err:
                best, best_err = aid, err
        if best:
            self._pick_up(o, best)

    def _nearest_hand(self, aid: str, box: Box) -> tuple[float, float]:
        actor = self._actors[aid]
        return tuple(actor.hands[_nearest_hand_index(actor, box)])

    def _while_held(self, o: _Object, touching: set[str], seen: bool, now: int) -> None:
        if seen:
            self._track_grip(o)
        lost = o.holder not in touching
        let_go = not lost and self._let_go(o, seen)
        if not lost and not let_go:
            if seen and o.grasp_aspect < self.config.tilt_max_aspect:
                self._check_pour(o)
            return
        others = touching - {o.holder}
        reached = {b for b in others if self._contacts[(b, o.entity.id)].reached}
        if lost and not seen and others and not any(map(self._is_robot, others | {o.holder})) and self._supported(o):
            # A person let go of it out of sight over a plate or in a bowl, only persons' hands near: put down
            # there, however near another hand is (a handover passes an object from hand to hand, not two hands
            # near one object). An object vanishing in a robot's gripper is another matter: below.
            self._settle(o)
            self._place(o, o.holder)
            o.holder = ""
        elif lost and not seen and reached:  # let go of out of sight in mid-air, a hand that reached for it on it
            self._hand_over(o, o.holder, self._closest(reached, o.entity.id))
        elif lost and o.moving.on:
            receivers = {b for b in others if self._hand_moving(b, o.entity.id)}
            if receivers:
                self._hand_over(o, o.holder, self._closest(receivers, o.entity.id))
            else:
                self._release(o, now, await_taker=False)
        elif others:
            self._settle(o)
            self._release(o, now, await_taker=True)
        else:
            self._settle(o)
            self._place(o, o.holder)
            o.holder = ""

    def _after_release(self, o: _Object, touching: set[str], seen: bool, now: int) -> None:
        """Between a hand letting go and the outcome: someone else carries it off (handover), or it rests
        (placement by the one who let go), or, for an object let go in mid-motion, it is lost from view."""
        expired = now - o.released_ns > seconds_to_ns(self.config.release_pending_s)
        takers = touching - {o.released_by}
        moved = seen and float(np.hypot(*np.subtract(o.entity.box.center, o.released_at))) > object_scale(
            o.entity.box, self.config.min_object_scale_px)  # carried off, possibly in steps or out of sight
        if (o.moving.on or moved) and takers:
            self._pick_up(o, self._closest(takers, o.entity.id))
        elif seen and not o.moving.on and (not o.await_taker or expired or not takers):
            self._place(o, o.released_by)
            o.released_by = ""
        elif expired:
            o.released_by = ""

    def _release(self, o: _Object, now: int, await_taker: bool) -> None:
        o.released_by, o.released_ns, o.holder, o.await_taker = o.holder, now, "", await_taker
        o.released_at = o.entity.box.center

    def _settle(self, o: _Object) -> None:
        """The object was just seen to stay put while the hand left: it rests now, whatever the lagging speed
        window says (otherwise a hand resting nearby would seem to pick it up)."""
        o.moving = DebouncedSwitch(self.config.move_frames, self.config.rest_frames)
        while len(o.boxes.samples) > 1:
            o.boxes.samples.popleft()

    def _hand_moving(self, aid: str, oid: str) -> bool:
        """Whether the actor's hand nearest to the object moved noticeably within the motion window."""
        actor = self._actors[aid]
        if not len(actor.hands):
            return False
        window = actor.tracks.get(actor.hand_names[_nearest_hand_index(actor, self._objects[oid].entity.box)])
        shift = point_shift(window) if window is not None else None
        return shift is not None and shift > self.config.release_shift * actor.scale

    def _track_grip(self, o: _Object) -> None:
        holder = self._actors[o.holder]
        if o.hand in holder.hand_names:
            o.grip.add(self._last_stamp_ns, tuple(holder.hands[holder.hand_names.index(o.hand)]))

    def _let_go(self, o: _Object, seen: bool) -> bool:
        """The holder's gripping hand moves away while the object stays: a placement, even when the hand comes
        to rest close enough to keep 'touching' it (hands often wait next to what they just put down).

        Hand and box centre are compared over the same window: a carried object moves about as far as the hand,
        a released one hardly at all. The box's own motion state is not used here because a hand covering part
        of what it carries can make a moving box look still."""
        if not seen or o.tilt.on:
            return False
        hand = point_shift(o.grip)
        if hand is None or hand <= self.config.release_shift * self._actors[o.holder].scale:
            return False
        span = o.boxes.span()
        if span is None:
            return False
        (_, b0), (_, b1) = span
        centre = float(np.hypot(b1.center[0] - b0.center[0], b1.center[1] - b0.center[1]))
        return centre < 0.5 * hand

    def _check_pour(self, o: _Object) -> None:
        """A held upright object turned towards horizontal and held still over another object pours into it."""
        cfg = self.config
        ratio = aspect(o.entity.box) / o.grasp_aspect
        if o.tilt.update(ratio > cfg.tilt_enter, ratio < cfg.tilt_exit) and not o.tilt.on:
            o.poured = False
        if o.tilt.on and not o.poured and not o.moving.on:
            holder = self._actors[o.holder]
            hand = tuple(holder.hands[holder.hand_names.index(o.hand)]) if o.hand in holder.hand_names else None
            target = pour_target(o.entity, self._recent_objects(), cfg.pour_reach * holder.scale, hand,
                                 self._containers)
            if target:  # tilted over nothing (yet): the pour, if any, comes when a cup is under it
                o.poured = True
                self._fire(o.holder, OBJECT_TILTED, POUR, o.entity.id, RELATION_IN, target)

    def _take(self, o: _Object, aid: str) -> None:
        """`aid` holds `o` from now on, with the hand nearest to it."""
        o.holder, o.released_by = aid, ""
        actor = self._actors[aid]
        if len(actor.hands):
            o.hand = actor.hand_names[_nearest_hand_index(actor, o.entity.box)]
        o.grip.clear()
        o.grasp_aspect = max(o.rest_aspect if o.rest_aspect is not None else aspect(o.entity.box), 1e-3)
        o.tilt = DebouncedSwitch(self.config.tilt_frames, self.config.tilt_frames)
        o.poured = False

    def _pick_up(self, o: _Object, aid: str) -> None:
        previous = o.released_by
        self._take(o, aid)
        if previous and previous != aid:
            self._report_transfer(o, previous, aid)
        else:
            self._fire(aid, OBJECT_MOVING, GRASP, o.entity.id)

    def _hand_over(self, o: _Object, giver: str, receiver: str) -> None:
        self._take(o, receiver)
        self._report_transfer(o, giver, receiver)

    def _report_transfer(self, o: _Object, giver: str, receiver: str) -> None:
        """A handover is the receiver's event, except that a person handing something to a robot owns it (the
        robot's side is the robot's own action, which GROUND does not list)."""
        robot_giver, robot_receiver = self._is_robot(giver), self._is_robot(receiver)
        actor = giver if robot_receiver and not robot_giver else receiver
        self._fire(actor, OBJECT_TRANSFER, HANDOVER, o.entity.id, robot=robot_giver or robot_receiver)

    def _supported(self, o: _Object) -> bool:
        """Whether the object's last box rests on or in another object (a plate, a bowl)."""
        cfg = self.config
        return bool(support_of(o.entity, self._recent_objects(), cfg.support_margin, self._containers,
                               cfg.support_min_area_ratio)[1])

    def _place(self, o: _Object, aid: str) -> None:
        cfg = self.config
        relation, target = support_of(o.entity, self._recent_objects(), cfg.support_margin, self._containers,
                                      cfg.support_min_area_ratio)
        self._fire(aid, OBJECT_REST, PLACE_DOWN, o.entity.id, relation, target)

    def _expire(self, now: int) -> None:
        """Actors unseen for leave_s have left: their contacts and holdings end without events."""
        leave_ns = seconds_to_ns(self.config.leave_s)
        for aid, a in self._actors.items():
            if now - a.last_seen_ns <= leave_ns:
                continue
            a.streak = 0
            if not a.present:
                continue
            a.present = False
            self._fire(aid, ACTOR_LEFT, IDLE)
            for key in [k for k in self._contacts if k[0] == aid]:
                del self._contacts[key]
            for key in [k for k in self._meetings if aid in k]:
                del self._meetings[key]
            for o in self._objects.values():
                if o.holder == aid:
                    o.holder = ""
                if o.released_by == aid:
                    o.released_by = ""

    # ------------------------------------------------------------------------------------------------- helpers

    def _closest(self, actor_ids: set[str], oid: str) -> str:
        return min(sorted(actor_ids), key=lambda aid: self._contacts[(aid, oid)].distance
                   if (aid, oid) in self._contacts else np.inf)

    def _is_robot(self, aid: str) -> bool:
        a = self._actors.get(aid)
        return a is not None and a.entity.kind == EntityKind.ROBOT

    def _recent_objects(self) -> list[Entity]:
        """Objects that are most likely still where they were last seen, at that box: those seen within
        object_memory_s, and those last seen at rest and held by nobody however long ago (objects do not move by
        themselves: a plate hidden under the arms and the fruit on it is still there)."""
        horizon = self._last_stamp_ns - seconds_to_ns(self.config.object_memory_s)
        return [o.entity for o in self._objects.values()
                if o.last_seen_ns >= horizon or not (o.holder or o.released_by or o.moving.on)]

    def _fire(self, aid: str, reason: str, action: str | None, oid: str = "", relation: str = "",
              target: str = "", robot: bool = False) -> None:
        """Queue a trigger unless the actor fired the same reason within the cooldown. `action` None means the
        actor's current state (hold / pour / idle) after the change."""
        now = self._last_stamp_ns
        last = self._last_fired.get((aid, reason))
        if last is not None and now - last < seconds_to_ns(self.config.cooldown_s):
            self.stats.suppressed_by_cooldown += 1
            return
        self._last_fired[(aid, reason)] = now
        robot = robot or self._is_robot(aid) or any(self._is_robot(a) for a in self._touching(oid))
        self.stats.triggers[reason] += 1
        self._pending.append(Trigger(stamp_ns=now, frame_id=self._frame.frame_id if self._frame else "",
                                     actor_id=aid, reason=reason, tentative_action=action or "", object_id=oid,
                                     relation=relation, target_id=target, robot_interaction=robot))

    def _resolve_state_actions(self, triggers: list[Trigger]) -> None:
        """Triggers fired without an action of their own (contact end, a robot meeting) carry the actor's state
        once the whole frame is processed: a hand leaving an object it just placed leaves the actor idle, not
        still holding it."""
        states = self.tentative_actions()
        held = self.held_objects()
        for t in triggers:
            if t.tentative_action:
                continue
            t.tentative_action = states.get(t.actor_id, IDLE)
            if t.tentative_action != IDLE and not t.object_id:
                t.object_id = held.get(t.actor_id, [""])[0]


def _nearest_hand_index(actor: _Actor, box: Box) -> int:
    """Row of the actor's visible hand nearest to a box (the actor must have one)."""
    return int(np.argmin(point_box_distances(actor.hands, boxes_array([box]))[:, 0]))
