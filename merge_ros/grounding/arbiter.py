"""Temporal consistency and source fusion of candidate events, one actor at a time.

Each actor has at most one pending reading: the candidate that currently best explains what it does. A
candidate is only passed on for confirmation when it has either persisted or been confirmed:

1. Agreement: a candidate with the same key (action, object, relation, target, robot) as the pending reading,
   from a *different* source, confirms it at once (perception's geometry and the VLM's reasoning agree). Its
   confidence becomes 1 - (1-a)(1-b), its stamp stays the earlier one (when the change was first seen). The same
   key from the same source only refreshes the reading (max confidence): a source repeating itself is no proof.
2. Persistence: a reading that stood unchallenged for `confirm_s` of stream time and `confirm_frames` entity
   frames is confirmed. The frame count is waived once the frame stream has been quiet for `confirm_s` (end of a
   bag, a stream of candidates only), so nothing stays pending forever.
3. Contradiction: a newer candidate with a different key replaces the pending reading if its weight (source
   priority x confidence) is at least the pending one's (ties go to the newer: recency); otherwise it is dropped.
   This only applies within the pending reading's persistence window: a reading that has already stood
   `confirm_s` and was only waiting for the VLM (rule 4) is confirmed first, since the newer candidate is the
   next change (a place_down after a grasp), not flicker. Idle takes part like any reading (a one-frame grasp
   followed by idle never gets confirmed) but is never returned.
4. VLM fusion: a perception candidate with a trigger_id is a change the event detector has asked the VLM about,
   so it waits up to `vlm_wait_s` for the answer before it may confirm by persistence. A VLM candidate for the
   same actor *fuses* with a pending perception reading when both name the same trigger or lie within
   `fuse_window_s`: the same key confirms it (rule 1); a different key is a correction, which replaces the
   perception reading and is confirmed at once when it weighs at least as much (with the default priorities,
   unless the VLM is far less confident); a VLM "idle" is a veto that drops the reading. If the VLM is weaker,
   the perception reading stops waiting and confirms by persistence alone.
5. Late readings: a candidate stamped before the actor's pending reading that does not fuse with it (a slow VLM
   answer about an earlier trigger) describes an earlier moment, so it cannot contradict the pending reading; it
   is passed on at once (the VLM has looked at those frames), and the world model drops it if it repeats an
   event already confirmed.

The arbiter does not know what was confirmed before: de-duplication against an actor's previous event, and the
state changes, are the world model's job.
"""
from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from merge_ros.types import SOURCE_PERCEPTION, SOURCE_VLM, Event
from merge_ros.vocabulary import IDLE


@dataclass
class _Reading:
    event: Event
    weight: float
    hold_ns: int  # stream time it must stand before it confirms by persistence
    frames: int = 0  # entity frames observed after its stamp


class CandidateArbiter:
    """Per-actor pending readings; `add` and `due` return the readings that are confirmed (never idle ones)."""

    def __init__(self, confirm_ns: int, confirm_frames: int, fuse_window_ns: int, vlm_wait_ns: int,
                 priority: Callable[[str], float]):
        self.confirm_ns = confirm_ns
        self.confirm_frames = confirm_frames
        self.fuse_window_ns = fuse_window_ns
        self.vlm_wait_ns = vlm_wait_ns
        self.priority = priority
        self.stats: Counter[str] = Counter()
        self._pending: dict[str, _Reading] = {}
        self._recent_frames: deque[int] = deque(maxlen=max(1, confirm_frames))
        self._last_frame_ns: int | None = None

    @property
    def pending(self) -> dict[str, Event]:
        return {actor: r.event for actor, r in self._pending.items()}

    def observe_frame(self, stamp_ns: int) -> None:
        self._recent_frames.append(stamp_ns)
        self._last_frame_ns = stamp_ns if self._last_frame_ns is None else max(self._last_frame_ns, stamp_ns)
        for reading in self._pending.values():
            if stamp_ns > reading.event.stamp_ns:
                reading.frames += 1

    def add(self, c: Event) -> list[Event]:
        """Take one (validated) candidate; returns the reading it confirms at once, if any."""
        new = self._reading(c)
        old = self._pending.get(c.actor_id)
        if old is None:
            self._pending[c.actor_id] = new
            return []
        if c.key() == old.event.key():
            if c.source == old.event.source:
                self.stats["refreshed"] += 1
                old.event = replace(old.event, confidence=max(old.event.confidence, c.confidence))
                old.weight = max(old.weight, new.weight)
                return []
            self.stats["agreed"] += 1
            agreed = replace(old.event, stamp_ns=min(old.event.stamp_ns, c.stamp_ns),
                             confidence=1.0 - (1.0 - old.event.confidence) * (1.0 - c.confidence),
                             trigger_id=old.event.trigger_id or c.trigger_id)
            return self._take(c.actor_id, agreed)
        if c.source == SOURCE_VLM and old.event.source == SOURCE_PERCEPTION and self._fuses(old.event, c):
            return self._correct(c.actor_id, old, new)
        if c.stamp_ns < old.event.stamp_ns:
            self.stats["late"] += 1
            return self._emit(c)
        if self._stood(old, c.stamp_ns, self.confirm_ns):
            self.stats["persisted"] += 1
            self._pending[c.actor_id] = new
            return self._emit(old.event)
        if new.weight >= old.weight:
            self.stats["superseded"] += 1
            self._pending[c.actor_id] = new
        else:
            self.stats["outweighed"] += 1
        return []

    def due(self, now_ns: int) -> list[Event]:
        """The readings that have persisted long enough by stream time now_ns."""
        ready = [actor for actor, r in self._pending.items() if self._stood(r, now_ns, r.hold_ns)]
        confirmed: list[Event] = []
        for actor in ready:
            self.stats["persisted"] += 1
            confirmed += self._take(actor, self._pending[actor].event)
        return confirmed

    def _stood(self, r: _Reading, now_ns: int, hold_ns: int) -> bool:
        """Unchallenged for hold_ns of stream time and confirm_frames frames (frames only count while they flow)."""
        frames_flowing = self._last_frame_ns is not None and now_ns - self._last_frame_ns < self.confirm_ns
        return now_ns - r.event.stamp_ns >= hold_ns and (r.frames >= self.confirm_frames or not frames_flowing)

    def drain(self) -> list[Event]:
        """Confirm every pending reading (the stream has ended: nothing can contradict them any more)."""
        confirmed: list[Event] = []
        for actor in list(self._pending):
            confirmed += self._take(actor, self._pending[actor].event)
        return confirmed

    def forget(self, actor_ids: set[str]) -> None:
        for actor in actor_ids & self._pending.keys():
            del self._pending[actor]

    def _reading(self, c: Event) -> _Reading:
        waits = c.source == SOURCE_PERCEPTION and bool(c.trigger_id)
        return _Reading(c, self.priority(c.source) * c.confidence,
                        max(self.confirm_ns, self.vlm_wait_ns) if waits else self.confirm_ns,
                        sum(1 for s in self._recent_frames if s > c.stamp_ns))

    def _fuses(self, perception: Event, vlm: Event) -> bool:
        if perception.trigger_id and vlm.trigger_id:
            return perception.trigger_id == vlm.trigger_id
        return abs(vlm.stamp_ns - perception.stamp_ns) <= self.fuse_window_ns

    def _correct(self, actor: str, old: _Reading, new: _Reading) -> list[Event]:
        if new.weight < old.weight:  # a hesitant VLM answer does not overrule; stop waiting for a better one
            self.stats["outweighed"] += 1
            old.hold_ns = self.confirm_ns
            return []
        self.stats["corrected"] += 1
        corrected = replace(new.event, trigger_id=new.event.trigger_id or old.event.trigger_id)
        return self._take(actor, corrected)

    def _take(self, actor: str, e: Event) -> list[Event]:
        del self._pending[actor]
        return self._emit(e)

    def _emit(self, e: Event) -> list[Event]:
        if e.action == IDLE:
            self.stats["idle"] += 1
            return []
        return [e]
