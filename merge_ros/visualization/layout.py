"""The layout shared by the rviz markers and the debug image: colours, captions and where relation lines go."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from merge_ros.types import PREDICATE_HOLDS, Entity, EntityKind, Event, Relation

Point = tuple[float, float]  # image pixels (u to the right, v down)

# RGB, 0-255: persons green, robots orange, objects blue; holds yellow, on/in magenta.
KIND_COLORS: dict[EntityKind, tuple[int, int, int]] = {
    EntityKind.PERSON: (60, 200, 60), EntityKind.ROBOT: (255, 140, 0), EntityKind.OBJECT: (70, 140, 255)}
PREDICATE_COLORS: dict[str, tuple[int, int, int]] = {PREDICATE_HOLDS: (255, 220, 0)}
SUPPORT_COLOR = (230, 60, 230)
HAND_COLOR = (255, 60, 60)
TEXT_COLOR = (255, 255, 255)


def kind_color(e: Entity) -> tuple[int, int, int]:
    return KIND_COLORS.get(EntityKind(e.kind), (200, 200, 200))


def predicate_color(predicate: str) -> tuple[int, int, int]:
    return PREDICATE_COLORS.get(predicate, SUPPORT_COLOR)


def caption(e: Entity) -> str:
    """The persistent ID, and the class label when the ID does not already say it."""
    return e.id if e.id.startswith(e.label) else f"{e.id} ({e.label})"


def event_line(e: Event) -> str:
    where = f" {e.relation} {e.target_id}" if e.relation else (f" to {e.target_id}" if e.target_id else "")
    robot = " [robot]" if e.robot_interaction else ""
    return f"{e.event_id} {e.actor_id} {e.action} {e.object_id}{where}{robot}"


@dataclass(frozen=True)
class Segment:
    relation: Relation
    start: Point
    end: Point

    @property
    def middle(self) -> Point:
        return ((self.start[0] + self.end[0]) / 2.0, (self.start[1] + self.end[1]) / 2.0)


def relation_segments(relations: Iterable[Relation], entities: Iterable[Entity]) -> list[Segment]:
    """One line per relation between entities with a known box: a hold starts at the actor's hand nearest the
    object (its box centre if no hand is visible); on/in runs from the object to its support. Relations with an
    entity never seen are left out."""
    by_id = {e.id: e for e in entities}
    segments = []
    for r in relations:
        subject, other = by_id.get(r.subject_id), by_id.get(r.object_id)
        if subject is None or other is None:
            continue
        end = other.box.center
        start = subject.box.center
        if r.predicate == PREDICATE_HOLDS and subject.hands():
            hand = min(subject.hands(), key=lambda k: (k.x - end[0]) ** 2 + (k.y - end[1]) ** 2)
            start = (hand.x, hand.y)
        segments.append(Segment(r, start, end))
    return segments
