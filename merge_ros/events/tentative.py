"""Trigger reasons, the tentative action each one implies, which ones need the VLM, and perception's candidate
events.

Only reasons that mark a completed change of an actor-action-object relation give a candidate event: a pick-up
(contact plus the object moving with the hand), a placement (a carried object released at rest), a pour (a held
object tilting over another) and a handover (an object held by one actor ends up held by another). Contact alone
is not an event in GROUND (a hand brushing past or resting on an object), so contact_start/contact_end, like
robot_contact and an actor appearing or leaving, give none; emitting one there would only add false positives.
"""
from __future__ import annotations

from merge_ros.types import SOURCE_PERCEPTION, Event, Trigger
from merge_ros.vocabulary import GRASP, HANDOVER, IDLE, PLACE_DOWN, POUR

CONTACT_START = "contact_start"
CONTACT_END = "contact_end"
OBJECT_MOVING = "object_moving"
OBJECT_REST = "object_rest"
OBJECT_TILTED = "object_tilted"
OBJECT_TRANSFER = "object_transfer"
ROBOT_CONTACT = "robot_contact"
ACTOR_APPEARED = "actor_appeared"
ACTOR_LEFT = "actor_left"

REASONS: tuple[str, ...] = (ACTOR_APPEARED, CONTACT_START, OBJECT_MOVING, OBJECT_TRANSFER, OBJECT_TILTED,
                            OBJECT_REST, CONTACT_END, ROBOT_CONTACT, ACTOR_LEFT)
"""All reasons, in the order triggers of one frame are emitted (causes before their consequences)."""

CANDIDATE_ACTIONS: dict[str, str] = {
    OBJECT_MOVING: GRASP,
    OBJECT_TRANSFER: HANDOVER,
    OBJECT_TILTED: POUR,
    OBJECT_REST: PLACE_DOWN,
}
"""The reasons that give a candidate event, and its action."""

REASONING_REASONS: frozenset[str] = frozenset({OBJECT_REST, OBJECT_TILTED, OBJECT_TRANSFER, ROBOT_CONTACT})
"""Reasons worth a VLM request: the end of a manipulation, where geometry guesses and the VLM can tell (placed on
or in what, poured into what or only tilted, handed to whom), and a robot meeting a person's hand, whose meaning
(helping, gesturing, passing by) geometry cannot tell. Not worth one:
- a pick-up (object_moving): a tracked object starting to move with a tracked hand is what perception measures
  directly, so its candidate stands on its own, and the VLM sees the whole manipulation, the pick-up included, at
  the placement, pour or handover that ends it;
- a robot meeting over an object both touch (tentative handover): the handover or placement that settles it gets
  its own request, with the meeting in its frames;
- contact start/end and appear/leave: they only update perception's own state; what they announce is either no
  event or followed by one of the reasons above."""


def reasoning_needed(trigger: Trigger) -> bool:
    """Whether a trigger is worth a VLM request, by the rules of REASONING_REASONS."""
    if trigger.reason == ROBOT_CONTACT and trigger.tentative_action == HANDOVER:
        return False
    return trigger.reason in REASONING_REASONS


def candidate_event(trigger: Trigger, confidence: float) -> Event | None:
    """Perception's tentative relation of a trigger as a candidate Event, or None where the trigger is no event."""
    action = CANDIDATE_ACTIONS.get(trigger.reason)
    if action is None or trigger.tentative_action in ("", IDLE):
        return None
    return Event(stamp_ns=trigger.stamp_ns, actor_id=trigger.actor_id, action=trigger.tentative_action,
                 object_id=trigger.object_id, relation=trigger.relation, target_id=trigger.target_id,
                 robot_interaction=trigger.robot_interaction, confidence=confidence, source=SOURCE_PERCEPTION,
                 frame_id=trigger.frame_id)
