"""The GROUND evaluation protocol, as published with the MERGE paper's code release (HRI-EU/merge).

- Idle events are removed from the ground truth.
- Per person ID, each ground-truth event (in time order) is matched to at most one prediction of the same person
  within +-tolerance seconds (inclusive), the closest unused prediction whose fields agree (ties: the earlier
  prediction). A prediction is used at most once per scored field; each field has its own matching.
- Actions are normalised with synonyms, on both sides: a label maps to the first entry of ACTION_SYNONYMS that
  names it or lists it as a synonym (grasp and pick_up become hold, place becomes place_down, fill becomes pour).
  A label that is empty or carries stray whitespace is no action name: it never matches, not even itself.
- A prediction's key is (normalised action, object, on, robot_interaction); missing fields are "" / false; only
  `on` is scored, not `in`. A prediction file that is not a non-empty list of dicts (unparsable JSON included)
  has the key ("", "", "", false); of a list, the first dict is the prediction. robot_interaction counts as true
  only when it is JSON true (or the string "true", which VLMs sometimes write).
- Full-tuple TP needs all four fields to agree; per-field TP is matched the same way on that field alone.
  FP = predictions - TP and FN = ground-truth events - TP, per field.
- Predictions of actors that are not in the ground truth (a robot's own events, a person the VLM invented,
  mislabelled IDs) can match nothing, so every one of them is a false positive. The README's FP = predictions - TP
  says so, and the published reference scores count them (the baselines' `image_N` predictions are among their FP).
- F1 is micro-averaged: TP/FP/FN are summed over the scenes of a group and over all scenes (`summarize`).
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from merge_ros.types import RELATION_IN, RELATION_ON, Event
from merge_ros.vocabulary import IDLE

LOG = logging.getLogger(__name__)

# (action, its synonyms), in the order that decides which entry a label maps to.
ACTION_SYNONYMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hold", ("pick_up", "grasp")),
    ("place_down", ("place",)),
    ("idle", ()),
    ("grasp", ("pick_up", "hold")),
    ("pick_up", ()),
    ("pour", ("fill",)),
    ("handover", ("hold",)),
)

FIELDS: tuple[str, ...] = ("action", "object", "on", "robot")
TUPLE = "tuple"
SCORED: tuple[str, ...] = (TUPLE, *FIELDS)

# The paper's table groups scenes by number: [001], [002-004], [005,006], ... (scene folders scene_NNN_*).
SCENE_GROUPS: tuple[tuple[int, ...], ...] = ((1,), (2, 3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

PREDICTION_FILE = re.compile(r"^(?P<stamp>[0-9]+(?:\.[0-9]*)?)_id_(?P<person>.+)\.json$")


def normalize_action(label: str) -> str:
    for name, synonyms in ACTION_SYNONYMS:
        if label == name or label in synonyms:
            return name
    return label


class Key(NamedTuple):
    """What is compared: (normalised action, object, on, robot_interaction)."""

    action: str
    object: str
    on: str
    robot: bool


EMPTY_KEY = Key("", "", "", False)


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def event_key(d: Mapping[str, Any]) -> Key:
    """The key of one event dict (ground truth or prediction) in the paper's format."""
    return Key(normalize_action(_text(d.get("action"))), _text(d.get("object")), _text(d.get("on")),
               _flag(d.get("robot_interaction")))


def prediction_key(record: Any) -> Key:
    """The key of a prediction file's content: a non-empty list of dicts, else EMPTY_KEY."""
    if isinstance(record, list) and record and all(isinstance(x, dict) for x in record):
        return event_key(record[0])
    return EMPTY_KEY


def _agree(name: str, a: Key, b: Key) -> bool:
    if name == TUPLE:
        return all(_agree(f, a, b) for f in FIELDS)
    if name == "action":
        return a.action == b.action and a.action != "" and a.action == a.action.strip()
    return getattr(a, name) == getattr(b, name)


class Prediction(NamedTuple):
    """One predicted event: its time, its raw content in the paper's format, and where it came from."""

    stamp: float
    record: Any
    source: str = ""

    @property
    def key(self) -> Key:
        return prediction_key(self.record)


GroundTruth = dict[str, list[tuple[float, dict[str, Any]]]]
Predictions = dict[str, list[Prediction]]


def load_ground_truth(path: Path | str) -> GroundTruth:
    """A GROUND ground_truth.json: {person_id: [(stamp seconds, event dict), ...]} in time order, idle included.

    ValueError (naming the file) if the structure is not {person: {stamp: [event, ...]}}.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected {{person_id: {{stamp: [events]}}}}, got {type(data).__name__}")
    out: GroundTruth = {}
    for person, by_stamp in data.items():
        if not isinstance(by_stamp, dict):
            raise ValueError(f"{path}: person {person!r}: expected {{stamp: [events]}}")
        events = []
        for stamp, entries in by_stamp.items():
            try:
                t = float(stamp)
            except ValueError as exc:
                raise ValueError(f"{path}: person {person!r}: stamp {stamp!r} is not a number") from exc
            entries = [entries] if isinstance(entries, dict) else entries
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise ValueError(f"{path}: person {person!r} at {stamp}: expected a list of event objects")
            events.extend((t, e) for e in entries)
        out[person] = sorted(events, key=lambda te: te[0])  # stable: same-stamp events keep their order
    return out


def load_prediction_folder(folder: Path | str) -> Predictions:
    """A run folder in the paper's format: one `<stamp>_id_<person>.json` per predicted event.

    A file that is not JSON still counts as a prediction (key EMPTY_KEY), as in the paper; files with other
    names (processing_time.json, notes) are not predictions.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such prediction folder")
    out: Predictions = {}
    unreadable = 0
    for path in sorted(folder.iterdir()):
        m = PREDICTION_FILE.match(path.name)
        if not m or not path.is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
            unreadable += 1
        out.setdefault(m["person"], []).append(Prediction(float(m["stamp"]), record, path.name))
    if unreadable:
        LOG.warning("%s: %d prediction file(s) are not JSON; scored as empty predictions", folder, unreadable)
    return {p: sorted(v, key=lambda x: x.stamp) for p, v in out.items()}


def event_to_paper_dict(e: Event) -> dict[str, Any]:
    """The paper's record of an Event.

    GROUND's ground truth names the target of a placement in `on` whatever it is (a plate, a bowl, a cup), and
    only `on` is scored; so a relation "in" fills `on` as well as `in`, and "on" fills `on` alone.
    """
    d: dict[str, Any] = {"object": e.object_id, "action": e.action, "robot_interaction": bool(e.robot_interaction)}
    if e.relation in (RELATION_ON, RELATION_IN):
        d["on"] = e.target_id
    if e.relation == RELATION_IN:
        d["in"] = e.target_id
    return d


def write_prediction_folder(folder: Path | str, events: Iterable[Event]) -> int:
    """Events as a run folder in the paper's format (one `<stamp>_id_<actor>.json` each); returns the count.

    Two events of one actor at the same stamp would share a file name: the later one is written a microsecond
    later, well inside any matching tolerance.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for e in events:
        stamp = e.stamp
        while (path := folder / f"{stamp:.6f}_id_{e.actor_id}.json").exists():
            stamp += 1e-6
        path.write_text(json.dumps([event_to_paper_dict(e)]))
        written += 1
    return written


def predictions_from_events(events: Iterable[Event]) -> Predictions:
    """This package's Events as predictions in the paper's format, keyed by actor_id, in time order."""
    out: Predictions = {}
    for e in events:
        out.setdefault(e.actor_id, []).append(Prediction(e.stamp, [event_to_paper_dict(e)], e.event_id))
    return {a: sorted(v, key=lambda x: x.stamp) for a, v in out.items()}


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


@dataclass
class ActorMatch:
    """One actor's scored ground truth and predictions, and the full-tuple pairs (indices), for reports."""

    ground_truth: list[tuple[float, Key]] = field(default_factory=list)
    predictions: list[tuple[float, Key]] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)
    in_ground_truth: bool = True


@dataclass
class SceneScore:
    counts: dict[str, Counts]
    actors: dict[str, ActorMatch]


def match(gt: Sequence[tuple[float, Key]], preds: Sequence[tuple[float, Key]], tolerance: float,
          scored: str = TUPLE) -> list[tuple[int, int]]:
    """(gt index, prediction index) pairs: each gt event in order takes the closest unused agreeing prediction."""
    used: set[int] = set()
    pairs = []
    for gi, (gt_stamp, gt_key) in enumerate(gt):
        best, best_dt = -1, 0.0
        for pi, (pred_stamp, pred_key) in enumerate(preds):
            dt = abs(pred_stamp - gt_stamp)
            if pi in used or dt > tolerance or not _agree(scored, gt_key, pred_key):
                continue
            if best < 0 or dt < best_dt:
                best, best_dt = pi, dt
        if best >= 0:
            used.add(best)
            pairs.append((gi, best))
    return pairs


def score_scene(gt: GroundTruth, preds: Predictions, tolerance: float) -> SceneScore:
    """TP/FP/FN of one scene for the full tuple and each field (see the module docstring for the rules)."""
    counts = {name: Counts() for name in SCORED}
    actors: dict[str, ActorMatch] = {}
    for actor in [*gt, *(a for a in preds if a not in gt)]:
        scored_gt = [(t, k) for t, d in gt.get(actor, []) if (k := event_key(d)).action != IDLE]
        scored_preds = [(p.stamp, p.key) for p in preds.get(actor, [])]
        actors[actor] = ActorMatch(scored_gt, scored_preds, in_ground_truth=actor in gt)
        for name in SCORED:
            pairs = match(scored_gt, scored_preds, tolerance, name)
            counts[name] += Counts(len(pairs), len(scored_preds) - len(pairs), len(scored_gt) - len(pairs))
            if name == TUPLE:
                actors[actor].pairs = pairs
    return SceneScore(counts, actors)


def total_counts(scores: Iterable[SceneScore]) -> dict[str, Counts]:
    total = {name: Counts() for name in SCORED}
    for s in scores:
        for name in SCORED:
            total[name] += s.counts[name]
    return total


def summarize(scores: Iterable[SceneScore]) -> dict[str, Any]:
    """Micro-averaged scores: {f1, f1_action, f1_object, f1_on, f1_robot, TP, FP, FN} (counts of the full tuple)."""
    total = total_counts(scores)
    out: dict[str, Any] = {"f1": total[TUPLE].f1}
    out.update({f"f1_{name}": total[name].f1 for name in FIELDS})
    out.update({"TP": total[TUPLE].tp, "FP": total[TUPLE].fp, "FN": total[TUPLE].fn})
    return out


def scene_number(name: str) -> int | None:
    """The number of a scene folder (scene_007_sf2P1R -> 7), None if its name holds none."""
    m = re.search(r"\d+", name)
    return int(m.group()) if m else None


def group_scenes(names: Iterable[str]) -> list[list[str]]:
    """Scenes grouped as the paper's table, in table order; groups with no scene present are left out.

    Scenes whose number is in no group of SCENE_GROUPS (or that have none) form one last group, so that every
    scene counts somewhere.
    """
    names = sorted(names)
    groups = [[n for n in names if scene_number(n) in numbers] for numbers in SCENE_GROUPS]
    grouped = {n for g in groups for n in g}
    rest = [n for n in names if n not in grouped]
    return [g for g in [*groups, rest] if g]
