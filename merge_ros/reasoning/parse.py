"""Defensive parsing and validation of a VLM's answer into candidate Events.

Real answers are seldom clean JSON: they come wrapped in code fences or <think> blocks, followed by prose,
with single quotes, Python literals (True/None), trailing commas or bare keys, cut off at the token limit, as a
list, as {"events": [...]}, or nested by actor ID ({"person_1": {...}}, the form GROUND's baselines wrote).
parse_answer() recovers every entry it can and validates it against the IDs of the request and the action
vocabulary, so that nothing the model invents (an unknown ID, an action outside the vocabulary) becomes an event.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Sequence

from merge_ros.types import RELATION_IN, RELATION_ON, SOURCE_VLM, Event, Trigger
from merge_ros.vocabulary import ACTIONS, GRASP, HANDOVER, HOLD, IDLE, PLACE_DOWN, POUR

# Spellings models use for the vocabulary's actions (after lower-casing and spaces/hyphens -> "_").
ACTION_SYNONYMS: dict[str, str] = {
    **{a: a for a in ACTIONS},
    "grab": GRASP, "grabs": GRASP, "grasps": GRASP, "grasping": GRASP, "pick": GRASP, "pick_up": GRASP,
    "picks_up": GRASP, "picking_up": GRASP, "pickup": GRASP, "take": GRASP, "takes": GRASP, "lift": GRASP,
    "holds": HOLD, "holding": HOLD, "carry": HOLD, "carries": HOLD, "carrying": HOLD,
    "place": PLACE_DOWN, "places": PLACE_DOWN, "placing": PLACE_DOWN, "put": PLACE_DOWN, "put_down": PLACE_DOWN,
    "puts_down": PLACE_DOWN, "putting_down": PLACE_DOWN, "set_down": PLACE_DOWN, "placedown": PLACE_DOWN,
    "place_on": PLACE_DOWN, "place_in": PLACE_DOWN, "release": PLACE_DOWN, "drop": PLACE_DOWN,
    "pours": POUR, "pouring": POUR, "pour_into": POUR, "fill": POUR, "fills": POUR, "filling": POUR,
    "hand_over": HANDOVER, "hands_over": HANDOVER, "handing_over": HANDOVER, "handoff": HANDOVER,
    "hand_off": HANDOVER, "give": HANDOVER, "gives": HANDOVER, "giving": HANDOVER, "pass": HANDOVER,
    "passes": HANDOVER, "passing": HANDOVER,
    "none": IDLE, "no_action": IDLE, "nothing": IDLE, "wait": IDLE, "waiting": IDLE, "stand": IDLE,
}

# Keys under which models put the same field (the first one present wins).
_ACTION_KEYS = ("action", "verb", "activity")
_ACTOR_KEYS = ("actor", "actor_id", "person", "person_id", "who", "agent", "subject")
_OBJECT_KEYS = ("object", "object_id", "obj", "item")
_ON_KEYS = ("on", "onto", "on_id", "placed_on", "on_object")
_IN_KEYS = ("in", "into", "in_id", "inside", "in_object")
_ROBOT_KEYS = ("robot_interaction", "robot", "with_robot", "robot_involved")
_CONTAINER_KEYS = ("events", "actions", "relations", "results", "answer", "answers", "output", "predictions",
                   "persons", "people", "actors")
_NO_ID = {"", "none", "null", "nil", "n/a", "na", "nothing", "no", "-", "empty", "unknown", "false"}
_TRUE = {"true", "yes", "y", "1"}

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)(```|$)", re.S)
_PAREN_SUFFIX = re.compile(r"\s*\(.*\)\s*$")
_PY_WORDS = re.compile(r'("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|\b(true|false|null)\b')
_BARE_KEY = re.compile(r'([{,]\s*)([A-Za-z_][\w-]*)\s*:')
_BARE_VALUE = re.compile(r'(:\s*)([A-Za-z_][\w-]*)(?=\s*[,}\]])')
_PAIRS = {"{": "}", "[": "]"}
# A model that runs to its token limit on garbage must not make parsing slow.
MAX_ANSWER_CHARS = 32_000


def trigger_id(trigger: Trigger) -> str:
    """Deterministic ID of a trigger (the message has none), so live and offline runs name it alike."""
    return f"trg-{trigger.stamp_ns}-{trigger.actor_id}"


def normalise_action(text: object) -> str:
    """The vocabulary action a model's spelling means, or "" when it means none of them."""
    key = re.sub(r"[\s\-]+", "_", str(text or "").strip().lower()).strip("_.")
    return ACTION_SYNONYMS.get(key, "")


def extract_json(text: str) -> object | None:
    """The JSON-like dict or list in a model's text (several top-level objects come back as a list), or None."""
    text = _THINK.sub("", text[:MAX_ANSWER_CHARS])
    chunks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in chunks:
        value = _decode(chunk)
        if value is not None:
            return value
    return None


def parse_answer(text: str, actor_ids: Sequence[str], object_ids: Sequence[str], trigger: Trigger,
                 confidence: float = 1.0) -> tuple[list[Event], list[str]]:
    """Validated candidate events (source vlm) in a model's answer, and the problems met on the way.

    An entry that names an unknown actor or object, or an action outside the vocabulary, is rejected; an unknown
    on/in target only loses its relation. An entry without an actor is about the trigger's actor (the request
    centres on it). Empty events with no problems mean the model saw nobody act.
    """
    if not text or not text.strip():
        return [], ["empty answer"]
    value = extract_json(text)
    if value is None:
        return [], ["no JSON object in the answer"]
    entries = _entries(value, None)
    if not entries:
        return [], [] if _says_nobody_acts(value) else ["no event entries in the answer"]
    actors = _known(actor_ids, [trigger.actor_id])
    objects = _known(object_ids, [trigger.object_id, trigger.target_id])
    events: list[Event] = []
    problems: list[str] = []
    for actor, entry in entries:
        try:
            event = _validate(entry, actor, actors, objects, trigger, confidence, problems)
        except _Invalid as e:
            problems.append(str(e))
            continue
        if all(event.key() != seen.key() for seen in events):
            events.append(event)
    return events, problems


class _Invalid(ValueError):
    """An answer entry that cannot become an event; the text says why."""


def _validate(entry: dict, nested_actor: str | None, actors: list[str], objects: list[str], trigger: Trigger,
              confidence: float, problems: list[str]) -> Event:
    raw_action = _field(entry, _ACTION_KEYS)
    action = normalise_action(raw_action)
    if not action:
        raise _Invalid(f"unknown action {raw_action!r}")
    raw_actor = _field(entry, _ACTOR_KEYS)
    if raw_actor is None:
        raw_actor = nested_actor if nested_actor is not None else trigger.actor_id
    actor = _resolve(raw_actor, actors)
    if not actor:
        raise _Invalid(f"unknown actor {raw_actor!r}")
    raw_object = _field(entry, _OBJECT_KEYS)
    object_id = _resolve(raw_object, objects)
    if object_id is None:
        raise _Invalid(f"unknown object {raw_object!r} for {actor}")
    if action == IDLE:
        object_id = ""
    elif not object_id:
        raise _Invalid(f"{action} of {actor} names no object")
    relation, target = _relation(entry, objects, object_id, problems)
    return Event(trigger.stamp_ns, actor, action, object_id, relation, target,
                 _truthy(_field(entry, _ROBOT_KEYS)), _confidence(entry.get("confidence"), confidence),
                 SOURCE_VLM, "", trigger_id(trigger), trigger.frame_id)


def _relation(entry: dict, objects: list[str], object_id: str, problems: list[str]) -> tuple[str, str]:
    """The first valid on/in target; the explicit relation + target form is read too."""
    options = [(RELATION_ON, _field(entry, _ON_KEYS)), (RELATION_IN, _field(entry, _IN_KEYS))]
    if str(entry.get("relation", "")).strip().lower() in (RELATION_ON, RELATION_IN):
        options.insert(0, (str(entry["relation"]).strip().lower(), _field(entry, ("target_id", "target"))))
    for relation, raw in options:
        target = _resolve(raw, objects)
        if target is None:
            problems.append(f"unknown {relation} target {raw!r} ignored")
        elif target and target != object_id:
            return relation, target
    return "", ""


def _field(entry: dict, keys: Iterable[str]) -> object:
    for key in keys:
        if key in entry:
            value = entry[key]
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if isinstance(value, dict) and "id" in value:
                value = value["id"]
            return value
    return None


def _resolve(value: object, known: list[str]) -> str | None:
    """The known ID a model's mention means, "" for none, None when it names nothing known."""
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip().strip("\"'`<>[].,;")
    if text.lower() in _NO_ID:
        return ""
    if text in known:
        return text
    by_lower = {k.lower(): k for k in known}
    base = _PAREN_SUFFIX.sub("", text).strip().lower()
    for candidate in (text.lower(), base, re.sub(r"[\s\-]+", "_", base)):
        if candidate in by_lower:
            return by_lower[candidate]
    if base.isdigit():  # "3" for object_3, when exactly one known ID ends so
        matches = [k for k in known if k.lower().endswith(f"_{base}")]
        if len(matches) == 1:
            return matches[0]
    return None


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value) if isinstance(value, (bool, int, float)) else False


def _confidence(value: object, default: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if 0.0 <= number <= 1.0 else default


def _known(ids: Sequence[str], extra: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in [*ids, *extra] if i))


def _entries(value: object, actor: str | None) -> list[tuple[str | None, dict]]:
    """(actor from an enclosing key, entry) for every dict that carries an action, however it is nested."""
    if isinstance(value, list):
        return [item for v in value for item in _entries(v, actor)]
    if not isinstance(value, dict):
        return []
    entry = {str(k).strip().lower(): v for k, v in value.items()}
    if any(k in entry for k in _ACTION_KEYS):
        return [(actor, entry)]
    for key in _CONTAINER_KEYS:
        if key in entry:
            return _entries(entry[key], actor)
    # Nested by actor: {"person_1": {...}, "person_2": [...]}.
    return [item for k, v in value.items() if isinstance(v, (dict, list)) for item in _entries(v, str(k))]


def _says_nobody_acts(value: object) -> bool:
    """[] or {"events": []}: a valid answer with no event, unlike an answer with no recognisable entry."""
    if isinstance(value, dict):
        lowered = {str(k).strip().lower(): v for k, v in value.items()}
        return any(lowered.get(key) == [] for key in _CONTAINER_KEYS)
    return value == []


_FAIL = object()


def _decode(chunk: str) -> object | None:
    chunk = chunk.strip()
    if not chunk:
        return None
    value = _loads(chunk)
    if value is not _FAIL:
        return value
    values: list[object] = []
    taken_until = -1
    for start, end in _spans(chunk):
        if start <= taken_until:
            continue  # inside a span already decoded
        value = _loads(chunk[start:end + 1])
        if value is not _FAIL:
            values.append(value)
            taken_until = end
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _loads(text: str) -> object:
    """A dict or list from JSON, a Python literal, or JSON with Python's quirks; _FAIL otherwise."""
    for attempt in (_json, ast.literal_eval, _relaxed):
        try:
            value = attempt(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, (dict, list)):
            return value
    return _FAIL


def _json(text: str) -> object:
    return json.loads(text)


def _relaxed(text: str) -> object:
    """JSON words as Python names, bare keys and words quoted, then a Python literal (trailing commas pass)."""
    text = _PY_WORDS.sub(lambda m: m.group(1) or {"true": "True", "false": "False", "null": "None"}[m.group(2)],
                         text)
    text = _BARE_KEY.sub(r'\1"\2":', text)
    return ast.literal_eval(_BARE_VALUE.sub(_quote_word, text))


def _quote_word(m: re.Match) -> str:
    word = m.group(2)
    return m.group(0) if word in ("True", "False", "None") else f'{m.group(1)}"{word}"'


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every balanced {...} or [...] in text, outer before inner, in one pass.

    Quotes only delimit strings inside brackets, so an apostrophe in prose ("Here's the answer: {...}") does
    not swallow the JSON after it. The inner spans of an unclosed (truncated) bracket are kept.
    """
    spans: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    quote = ""
    escaped = False
    for i, c in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'" and stack:
            quote = c
        elif c in _PAIRS:
            stack.append((c, i))
        elif c in "}]" and stack:
            opening, start = stack.pop()
            if _PAIRS[opening] == c:
                spans.append((start, i))
            else:
                stack.clear()
    return sorted(spans, key=lambda s: (s[0], -s[1]))
