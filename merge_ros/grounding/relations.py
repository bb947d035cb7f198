"""The relations that hold now (who holds what, what is on/in what), kept consistent under confirmed events.

Each object has at most one holder and at most one support (the thing it is on or in), because that is what
the physical world allows; an event that says otherwise replaces the old relation. Replacement is by recency of
the event's stamp, not of its arrival: a VLM answer about an older frame that arrives after a newer event on the
same object was applied does not roll the object's state back (the event itself is still kept in the history).

How each action changes the state:
- grasp, hold, pour: the actor holds the object (from whoever held it before); it is no longer on/in anything.
- place_down: the hold ends; with relation on/in and a target, the object is on/in the target.
- handover: the hold moves to the receiver; it is on/in nothing. The receiver is target_id when the event names
  one (relation empty); otherwise the actor is the receiver unless it holds the object itself, in which case it
  is the giver and its hold just ends. That covers both ways of telling a handover: by the giver ("person_1
  hands the cup to robot_1", or to someone unseen) and by the receiver (the event detector's "person_2 takes
  over the cup"), and it only depends on the state, so replaying a journal rebuilds the same relations.
- idle: never an event, never a change.
"""
from __future__ import annotations

from dataclasses import dataclass

from merge_ros.types import PREDICATE_HOLDS, RELATION_IN, RELATION_ON, Event, Relation
from merge_ros.vocabulary import GRASP, HANDOVER, HOLD, PLACE_DOWN, POUR

_TAKE_ACTIONS = (GRASP, HOLD, POUR)


@dataclass
class _Link:
    """One side of an object's state: its holder (an actor) or its support (predicate + target)."""

    other_id: str
    predicate: str
    since_ns: int
    event_id: str


class RelationState:
    """Holds and on/in relations by object; `apply` keeps them consistent, `relations` lists what holds now."""

    def __init__(self) -> None:
        self._holder: dict[str, _Link] = {}
        self._support: dict[str, _Link] = {}
        self._changed_ns: dict[str, int] = {}  # per object: stamp of the latest event applied to it

    def holder(self, object_id: str) -> str:
        link = self._holder.get(object_id)
        return link.other_id if link else ""

    def support(self, object_id: str) -> tuple[str, str]:
        """(predicate, target) the object rests on/in, or ("", "")."""
        link = self._support.get(object_id)
        return (link.predicate, link.other_id) if link else ("", "")

    def apply(self, e: Event) -> bool:
        """Update the state with a confirmed event; True if any relation changed.

        An event older than the latest one already applied to the same object changes nothing.
        """
        obj = e.object_id
        if not obj or e.stamp_ns < self._changed_ns.get(obj, e.stamp_ns):
            return False
        self._changed_ns[obj] = e.stamp_ns
        before = (self._holder.get(obj), self._support.get(obj))
        if e.action in _TAKE_ACTIONS:
            self._hold(obj, e.actor_id, e)
            self._support.pop(obj, None)
        elif e.action == PLACE_DOWN:
            self._holder.pop(obj, None)
            if e.relation in (RELATION_ON, RELATION_IN) and e.target_id and e.target_id != obj:
                self._support[obj] = _Link(e.target_id, e.relation, e.stamp_ns, e.event_id)
            else:
                self._support.pop(obj, None)
        elif e.action == HANDOVER:
            self._support.pop(obj, None)
            receiver = e.target_id if e.target_id and not e.relation else (
                "" if self.holder(obj) == e.actor_id else e.actor_id)
            if receiver:
                self._hold(obj, receiver, e)
            else:
                self._holder.pop(obj, None)
        return (self._holder.get(obj), self._support.get(obj)) != before

    def _hold(self, obj: str, actor: str, e: Event) -> None:
        link = self._holder.get(obj)
        if link is None or link.other_id != actor:  # a continuing hold keeps its start time and event
            self._holder[obj] = _Link(actor, PREDICATE_HOLDS, e.stamp_ns, e.event_id)

    def relations(self) -> list[Relation]:
        """Holds first, then on/in, each sorted by subject, so that equal states give equal lists."""
        holds = [Relation(link.other_id, link.predicate, obj, link.since_ns, link.event_id)
                 for obj, link in self._holder.items()]
        supports = [Relation(obj, link.predicate, link.other_id, link.since_ns, link.event_id)
                    for obj, link in self._support.items()]
        return sorted(holds, key=lambda r: (r.subject_id, r.object_id)) + sorted(
            supports, key=lambda r: (r.subject_id, r.object_id))

    def forget(self, live: set[str]) -> bool:
        """Drop the relations of which no participant is in `live` (both were pruned from the live view)."""
        changed = False
        for table in (self._holder, self._support):
            for obj in [o for o, link in table.items() if o not in live and link.other_id not in live]:
                del table[obj]
                changed = True
        for obj in [o for o in self._changed_ns if o not in live and o not in self._holder and o not in self._support]:
            del self._changed_ns[obj]
        return changed
