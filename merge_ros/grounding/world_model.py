"""The persistent situational model: entities by persistent ID, the relations that hold now, and the history of
confirmed events, fed by entity frames and by candidate events from perception and the VLM.

Candidates become confirmed events in three steps:
1. validation: unknown actions, missing IDs, a confidence below `min_confidence` are rejected (and counted);
2. temporal consistency and source fusion, per actor (merge_ros.grounding.arbiter: persist or be confirmed by
   a second source; contradictions resolved by recency and source-weighted confidence; VLM answers confirm or
   correct perception's tentative readings);
3. de-duplication against the state: an event identical to the actor's previous confirmed event is not repeated
   (nor one identical to an event of the actor from the same trigger or within `fuse_window_s`: a late VLM
   answer agreeing with what perception already confirmed), and (with `redundant_hold`) "hold X" while the
   actor already holds X is a state refresh, not an event.
What passes gets a stable ID (evt-000001, ...), is journalled, applied to the relations
(merge_ros.grounding.relations) and kept in the history.

Time is stream time (the stamps of frames and candidates), never the wall clock, so a bag replayed offline as
fast as the CPU allows gives the same events as the live graph.

Memory is bounded for long streams: entities not seen (nor named by a candidate) for `prune_after_s` leave the
live view, with their pending readings, dedup memory and the relations among them; the in-memory history keeps
the latest `history_limit` events, while the journal on disk keeps every one and answers queries beyond it.
"""
from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from itertools import islice

from merge_ros.grounding.arbiter import CandidateArbiter
from merge_ros.grounding.journal import Journal
from merge_ros.grounding.query import select_events
from merge_ros.grounding.relations import RelationState
from merge_ros.params import check_fields, param
from merge_ros.types import (
    RELATION_IN,
    RELATION_ON,
    SOURCE_GROUNDING,
    SOURCE_PERCEPTION,
    SOURCE_VLM,
    Entity,
    EntityFrame,
    Event,
    Relation,
    SceneState,
    StageStep,
    seconds_to_ns,
)
from merge_ros.vocabulary import ACTIONS, HOLD, IDLE

EVENT_ID_PREFIX = "evt-"
LOG = logging.getLogger(__name__)
RECENT_FOR_DEDUP = 64  # confirmed events searched for a late repeat (a few seconds of a busy scene)


@dataclass
class GroundingConfig:
    confirm_s: float = param(
        0.3, "a candidate must stand unchallenged this long (stream time) before it is confirmed, unless a "
        "second source confirms it sooner; filters one-frame flicker", 0.0, 60.0)
    confirm_frames: int = param(
        2, "and for this many entity frames after its stamp (waived when frames stop arriving)", 0, 1000)
    min_confidence: float = param(0.2, "candidates below this confidence are rejected", 0.0, 1.0)
    perception_priority: float = param(
        0.5, "source priority of perception candidates: weight = priority x confidence decides contradictions",
        0.0, 1.0)
    vlm_priority: float = param(1.0, "source priority of VLM candidates (see perception_priority)", 0.0, 1.0)
    other_priority: float = param(0.5, "source priority of candidates from any other source", 0.0, 1.0)
    fuse_window_s: float = param(
        1.0, "a VLM candidate confirms or corrects the actor's pending perception candidate within this time "
        "(or when both carry the same trigger_id)", 0.0, 60.0)
    vlm_wait_s: float = param(
        2.0, "a perception candidate with a trigger_id waits up to this long (stream time) for the VLM's answer "
        "before it confirms on its own; 0 = do not wait", 0.0, 60.0)
    redundant_hold: bool = param(True, "'hold X' while the actor already holds X is a state refresh, not an event")
    history_limit: int = param(
        10000, "confirmed events kept in memory (the journal keeps all and answers older queries)", 1, 10_000_000)
    prune_after_s: float = param(
        120.0, "entities unseen this long leave the live scene (history keeps them); 0 = never", 0.0, 1e6)

    def __post_init__(self) -> None:
        check_fields(self)

    def priority(self, source: str) -> float:
        return {SOURCE_PERCEPTION: self.perception_priority, SOURCE_VLM: self.vlm_priority}.get(
            source, self.other_priority)


class WorldModel:
    """The situational model; see the module docstring. Not thread-safe: call it from one thread."""

    def __init__(self, config: GroundingConfig | None = None, journal: Journal | None = None):
        self.config = config or GroundingConfig()
        cfg = self.config
        self.journal = journal
        self.revision = 0  # increases whenever the scene changes (entity set, relations, event count)
        self._arbiter = CandidateArbiter(seconds_to_ns(cfg.confirm_s), cfg.confirm_frames,
                                         seconds_to_ns(cfg.fuse_window_s), seconds_to_ns(cfg.vlm_wait_s),
                                         cfg.priority)
        self.stats: Counter[str] = self._arbiter.stats  # one set of counters: arbitration and de-duplication
        self._state = RelationState()
        self._entities: dict[str, Entity] = {}
        self._last_seen: dict[str, int] = {}
        self._last_event: dict[str, Event] = {}  # per actor, for de-duplication
        self._history: deque[Event] = deque(maxlen=cfg.history_limit)
        self._count = 0
        self._next_number = 1
        self._now = 0
        self._last_prune_ns = 0
        self._frame_id = ""
        if journal is not None:
            for e in journal.restored:
                self._commit(e)
            self.stats["restored"] = self._count

    # --- inputs ------------------------------------------------------------------------------------------------
    def observe(self, frame: EntityFrame) -> None:
        """Take the entities of one frame: latest state and last-seen time per persistent ID."""
        self._advance(frame.stamp_ns)
        self._frame_id = frame.frame_id or self._frame_id
        new_ids = False
        for e in frame.entities:
            new_ids |= e.id not in self._entities
            self._entities[e.id] = e
            self._last_seen[e.id] = max(self._last_seen.get(e.id, 0), frame.stamp_ns)
        self._arbiter.observe_frame(frame.stamp_ns)
        if new_ids:
            self.revision += 1

    def add_candidate(self, c: Event) -> list[Event]:
        """Take one candidate event; returns the events confirmed now (this one, or earlier ones it outlived)."""
        self.stats["candidates"] += 1
        problem = self._invalid(c)
        if problem:
            self.stats["rejected"] += 1
            self.stats[f"rejected ({problem})"] += 1
            return []
        confirmed = self.flush(c.stamp_ns)  # whatever persisted up to this stamp is not contradicted by c
        self._touch(c)
        return confirmed + self._confirm(self._arbiter.add(c))

    def flush(self, stamp_ns: int) -> list[Event]:
        """Advance stream time to stamp_ns (never backwards); returns the candidates confirmed by persistence."""
        self._advance(stamp_ns)
        confirmed = self._confirm(self._arbiter.due(self._now))
        self._prune()
        return confirmed

    def step(self, step: StageStep) -> list[Event]:
        """Take one step of the event stage's stream: its entity frame, then its candidates in order, then confirm
        what has persisted up to its stamp. Live and offline, grounding is fed this way only, so the same stream
        gives the same events. Returns the events confirmed by this step."""
        confirmed: list[Event] = []
        if step.frame is not None:
            self.observe(step.frame)
        for candidate in step.candidates:
            confirmed += self.add_candidate(candidate)
        if step.frame is not None:
            confirmed += self.flush(step.stamp_ns)
        return confirmed

    def finish(self) -> list[Event]:
        """End of stream: confirm every pending candidate (nothing can contradict them any more)."""
        return self._confirm(self._arbiter.drain())

    def close(self) -> None:
        """Close the journal (every event in it is already flushed)."""
        if self.journal is not None:
            self.journal.close()

    # --- queries -----------------------------------------------------------------------------------------------
    @property
    def now_ns(self) -> int:
        return self._now

    @property
    def event_count(self) -> int:
        return self._count

    @property
    def pending(self) -> dict[str, Event]:
        """actor -> the candidate waiting for confirmation (for display and tests)."""
        return self._arbiter.pending

    def entities(self) -> list[Entity]:
        return [self._entities[k] for k in sorted(self._entities)]

    def relations(self) -> list[Relation]:
        return self._state.relations()

    def scene(self, stamp_ns: int | None = None) -> SceneState:
        return SceneState(self._now if stamp_ns is None else stamp_ns, self._frame_id, self.entities(),
                          self.relations(), self._count)

    def events(self, actor_id: str = "", object_id: str = "", start_ns: int = 0, end_ns: int = 0,
               max_events: int = 0) -> list[Event]:
        """Confirmed events matching the query (see merge_ros.grounding.query.select_events).

        Served from memory while it holds the whole history, else from the journal (which holds it all).
        """
        source: Iterable[Event] = self._history
        if len(self._history) < self._count and self.journal is not None:
            try:
                source = self.journal.read_all()
            except (OSError, ValueError) as exc:  # damaged behind our back: answer from memory, say so
                self.stats["journal_errors"] += 1
                LOG.error("journal %s unreadable, answering from the last %d events: %s", self.journal.path,
                          len(self._history), exc)
        return select_events(source, actor_id, object_id, start_ns, end_ns, max_events)

    def recent_events(self, count: int) -> list[Event]:
        """The last `count` confirmed events, in confirmation order."""
        return list(self._history)[-count:] if count > 0 else []

    # --- internals ---------------------------------------------------------------------------------------------
    def _advance(self, stamp_ns: int) -> None:
        self._now = max(self._now, int(stamp_ns))

    def _invalid(self, c: Event) -> str:
        """Why a candidate cannot be used, or ""."""
        if not c.actor_id:
            return "no actor"
        if c.action not in ACTIONS:
            return "unknown action"
        if c.action != IDLE and not c.object_id:
            return "no object"
        if c.relation not in ("", RELATION_ON, RELATION_IN):
            return "unknown relation"
        if c.relation and not c.target_id:
            return "relation without target"
        if c.target_id and c.target_id == c.object_id:
            return "object is its own target"
        if not (isinstance(c.confidence, (int, float)) and self.config.min_confidence <= c.confidence <= 1.0):
            return "confidence out of range"
        return ""

    def _confirm(self, readings: list[Event]) -> list[Event]:
        confirmed = []
        for r in sorted(readings, key=lambda e: e.stamp_ns):
            if self._repeats(r):
                self.stats["duplicates"] += 1
                continue
            if self.config.redundant_hold and r.action == HOLD and self._state.holder(r.object_id) == r.actor_id:
                self.stats["redundant_holds"] += 1
                continue
            e = replace(r, source=SOURCE_GROUNDING, event_id=f"{EVENT_ID_PREFIX}{self._next_number:06d}")
            if self.journal is not None:
                try:
                    self.journal.append(e)  # on disk before anyone hears of it
                except OSError as exc:  # disk full, file gone: keep grounding, say loudly what is not persisted
                    self.stats["journal_errors"] += 1
                    LOG.error("journal %s: %s not written: %s", self.journal.path, e.event_id, exc)
            self._commit(e)
            confirmed.append(e)
        return confirmed

    def _repeats(self, r: Event) -> bool:
        """r says again what the actor's previous event, or a recent one about the same moment, already said."""
        previous = self._last_event.get(r.actor_id)
        if previous is not None and previous.key() == r.key():
            return True
        window = seconds_to_ns(self.config.fuse_window_s)
        return any(e.actor_id == r.actor_id and e.key() == r.key()
                   and ((r.trigger_id and e.trigger_id == r.trigger_id) or abs(e.stamp_ns - r.stamp_ns) <= window)
                   for e in islice(reversed(self._history), RECENT_FOR_DEDUP))

    def _commit(self, e: Event) -> None:
        """Apply a confirmed (or replayed) event to state, history and numbering."""
        self._state.apply(e)
        self._touch(e)
        self._frame_id = self._frame_id or e.frame_id  # a restored model knows its camera before the first frame
        self._last_event[e.actor_id] = e
        self._history.append(e)
        self._count += 1
        self._next_number = max(self._next_number, _event_number(e.event_id) + 1, self._count + 1)
        self._advance(e.stamp_ns)
        self.revision += 1

    def _touch(self, e: Event) -> None:
        """An entity named by a candidate or event counts as seen then (it may never be in an entity frame)."""
        for entity_id in (e.actor_id, e.object_id, e.target_id):
            if entity_id:
                self._last_seen[entity_id] = max(self._last_seen.get(entity_id, 0), e.stamp_ns)

    def _prune(self) -> None:
        prune_ns = seconds_to_ns(self.config.prune_after_s)
        if not prune_ns or self._now - self._last_prune_ns < min(prune_ns, seconds_to_ns(1.0)):
            return
        self._last_prune_ns = self._now
        stale = {i for i, seen in self._last_seen.items() if self._now - seen > prune_ns}
        if not stale:
            return
        for i in stale:
            self._entities.pop(i, None)
            self._last_seen.pop(i, None)
            self._last_event.pop(i, None)
        self._arbiter.forget(stale)
        self._state.forget(set(self._last_seen))
        self.stats["pruned"] += len(stale)
        self.revision += 1


def _event_number(event_id: str) -> int:
    """The n of "evt-n"; 0 for IDs of another form (their events still count towards the next number)."""
    digits = event_id[len(EVENT_ID_PREFIX):] if event_id.startswith(EVENT_ID_PREFIX) else ""
    return int(digits) if digits.isdigit() else 0
