"""Selecting events from a history, with the semantics of srv/GetEvents.srv (shared by the world model, the
node's service and offline tools, so that all answer the same question the same way)."""
from __future__ import annotations

from collections.abc import Iterable

from merge_ros.types import Event


def select_events(events: Iterable[Event], actor_id: str = "", object_id: str = "", start_ns: int = 0,
                  end_ns: int = 0, max_events: int = 0) -> list[Event]:
    """Events of `actor_id` that involve `object_id` (as object or target), stamped in [start_ns, end_ns].

    Empty strings and zero times match everything; `max_events` > 0 keeps the most recent that many (by stamp).
    The result is in stamp order (confirmation order among equal stamps).
    """
    chosen = [e for e in events
              if (not actor_id or e.actor_id == actor_id)
              and (not object_id or object_id in (e.object_id, e.target_id))
              and (not start_ns or e.stamp_ns >= start_ns)
              and (not end_ns or e.stamp_ns <= end_ns)]
    chosen.sort(key=lambda e: e.stamp_ns)  # stable: equal stamps keep their confirmation order
    return chosen[-max_events:] if max_events > 0 else chosen
