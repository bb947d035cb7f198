"""The action vocabulary of MERGE / GROUND events."""
from __future__ import annotations

GRASP = "grasp"
HOLD = "hold"
PLACE_DOWN = "place_down"
POUR = "pour"
HANDOVER = "handover"
IDLE = "idle"

# Actions an Event may carry; idle is a state, never published as an event by grounding.
ACTIONS: tuple[str, ...] = (GRASP, HOLD, PLACE_DOWN, POUR, HANDOVER, IDLE)
