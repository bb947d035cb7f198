"""Defensive parsing and validation of VLM answers, on a table of real-world malformed outputs and on the answers
GPT-4o / GPT-5 / Gemini actually gave in GROUND's published runs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from merge_ros.reasoning.parse import extract_json, normalise_action, parse_answer, trigger_id
from merge_ros.types import SOURCE_VLM, Trigger

ACTORS = ["person_1", "person_2", "robot_1"]
OBJECTS = ["object_3", "object_5", "apple_1"]
TRIGGER = Trigger(1_700_000_000_500_000_000, "camera", "person_1", "object_moving", "grasp", "object_3")
GRASP_3 = ("person_1", "grasp", "object_3", "", "", False)

# (name, model output, expected events as (actor, action, object, relation, target, robot_interaction))
WELL_PARSED = [
    ("clean events object",
     '{"events": [{"actor": "person_1", "action": "grasp", "object": "object_3", "robot_interaction": false}]}',
     [GRASP_3]),
    ("json code fence with prose around",
     'Sure! Here is the JSON:\n```json\n{"events": [{"actor": "person_1", "action": "grasp", "object": '
     '"object_3", "robot_interaction": false}]}\n```\nLet me know if you need more.', [GRASP_3]),
    ("bare code fence", '```\n[{"actor": "person_1", "action": "grasp", "object": "object_3"}]\n```', [GRASP_3]),
    ("unclosed code fence (token limit)",
     '```json\n{"actor": "person_1", "action": "grasp", "object": "object_3"}', [GRASP_3]),
    ("trailing text", '{"actor": "person_1", "action": "grasp", "object": "object_3"} I hope this helps! {', [GRASP_3]),
    ("apostrophe in the prose before",
     "Here's what I see: {\"actor\": \"person_1\", \"action\": \"grasp\", \"object\": \"object_3\"}", [GRASP_3]),
    ("single quotes and Python True",
     "{'actor': 'person_2', 'action': 'grasp', 'object': 'apple_1', 'robot_interaction': True}",
     [("person_2", "grasp", "apple_1", "", "", True)]),
    ("Python list with None",
     "[{'actor': 'person_1', 'action': 'grasp', 'object': 'object_3', 'on': None, 'robot_interaction': False}]",
     [GRASP_3]),
    ("trailing commas",
     '{"events": [{"actor": "person_1", "action": "grasp", "object": "object_3",},]}', [GRASP_3]),
    ("bare keys and words", "{actor: person_1, action: grasp, object: object_3, robot_interaction: false}", [GRASP_3]),
    ("GROUND nested by actor",
     '[{"person_1": {"object": "object_3", "action": "hold", "robot_interaction": false}, '
     '"person_2": {"object": "", "action": "idle", "robot_interaction": false}}]',
     [("person_1", "hold", "object_3", "", "", False), ("person_2", "idle", "", "", "", False)]),
    ("GROUND per-person list without actor (the trigger's actor)",
     '[{"object": "object_3", "action": "place_down", "on": "object_5", "robot_interaction": false}]',
     [("person_1", "place_down", "object_3", "on", "object_5", False)]),
    ("one object per line",
     '{"actor": "person_1", "action": "grasp", "object": "object_3"}\n'
     '{"actor": "person_2", "action": "hold", "object": "apple_1"}',
     [GRASP_3, ("person_2", "hold", "apple_1", "", "", False)]),
    ("truncated in the second entry",
     '{"events": [{"actor": "person_1", "action": "grasp", "object": "object_3"}, {"actor": "person_2", "act',
     [GRASP_3]),
    ("think block with braces",
     '<think>Maybe {"actor": "person_2"} ... no.</think>{"actor": "person_1", "action": "grasp", "object": '
     '"object_3"}', [GRASP_3]),
    ("synonyms", json.dumps({"events": [
        {"actor": "person_1", "action": "Pick up", "object": "object_3"},
        {"actor": "person_2", "action": "put-down", "object": "apple_1", "on": "object_5"},
        {"actor": "robot_1", "action": "hand over", "object": "object_5", "robot_interaction": "yes"}]}),
     [GRASP_3, ("person_2", "place_down", "apple_1", "on", "object_5", False),
      ("robot_1", "handover", "object_5", "", "", True)]),
    ("fill into, give", json.dumps([{"actor": "person_2", "action": "fill", "object": "object_5",
                                     "in": "object_3"},
                                    {"actor": "person_1", "action": "gives", "object": "apple_1"}]),
     [("person_2", "pour", "object_5", "in", "object_3", False), ("person_1", "handover", "apple_1", "", "", False)]),
    ("ID spellings", json.dumps([{"actor": "PERSON_2", "action": "grasp", "object": "Object 3"},
                                 {"actor": "person_1", "action": "hold", "object": "apple_1 (apple)"},
                                 {"actor": "person_1", "action": "place_down", "object": 3, "on": ["object_5"]}]),
     [("person_2", "grasp", "object_3", "", "", False), ("person_1", "hold", "apple_1", "", "", False),
      ("person_1", "place_down", "object_3", "on", "object_5", False)]),
    ("relation and target form",
     '{"actor": "person_1", "action": "place_down", "object": "object_3", "relation": "in", "target_id": "object_5"}',
     [("person_1", "place_down", "object_3", "in", "object_5", False)]),
    ("wrapped in answer", '{"answer": {"events": [{"actor": "person_1", "action": "grasp", "object": "object_3"}]}}',
     [GRASP_3]),
    ("duplicates collapse", json.dumps([{"actor": "person_1", "action": "grasp", "object": "object_3"}] * 3),
     [GRASP_3]),
    ("nobody acts", '{"events": []}', []),
]

# (name, model output, expected problem fragment)
REJECTED = [
    ("prose only", "I cannot determine what the person is doing.", "no JSON"),
    ("empty", "   \n", "empty answer"),
    ("random bytes like an untrained model", "\ufffd\ufffdrob{ot\ufffd<|im_end|>", "no JSON"),
    ("unknown actor", '{"actor": "person_9", "action": "grasp", "object": "object_3"}', "unknown actor"),
    ("unknown object", '{"actor": "person_1", "action": "grasp", "object": "banana_7"}', "unknown object"),
    ("action outside the vocabulary", '{"actor": "person_1", "action": "dance", "object": "object_3"}',
     "unknown action"),
    ("grasp of nothing", '{"actor": "person_1", "action": "grasp"}', "names no object"),
    ("no entries", '{"status": "ok", "count": 2}', "no event entries"),
    ("number", "42", "no JSON"),
]


def _keys(events):
    return [(e.actor_id, e.action, e.object_id, e.relation, e.target_id, e.robot_interaction) for e in events]


@pytest.mark.parametrize("name,text,expected", WELL_PARSED, ids=[row[0] for row in WELL_PARSED])
def test_malformed_outputs_parse_to_their_events(name, text, expected):
    events, problems = parse_answer(text, ACTORS, OBJECTS, TRIGGER)
    assert _keys(events) == expected, problems
    assert problems == []
    for e in events:
        assert (e.stamp_ns, e.frame_id, e.source, e.trigger_id) == (TRIGGER.stamp_ns, "camera", SOURCE_VLM,
                                                                   trigger_id(TRIGGER))


@pytest.mark.parametrize("name,text,problem", REJECTED, ids=[row[0] for row in REJECTED])
def test_invalid_outputs_give_no_events_and_say_why(name, text, problem):
    events, problems = parse_answer(text, ACTORS, OBJECTS, TRIGGER)
    assert events == []
    assert any(problem in p for p in problems), problems


def test_valid_entries_survive_invalid_neighbours():
    text = json.dumps({"events": [
        {"actor": "person_9", "action": "grasp", "object": "object_3"},
        {"actor": "person_1", "action": "place_down", "object": "object_3", "on": "table_9"},
        {"actor": "person_2", "action": "juggle", "object": "apple_1"}]})
    events, problems = parse_answer(text, ACTORS, OBJECTS, TRIGGER)
    assert _keys(events) == [("person_1", "place_down", "object_3", "", "", False)]  # unknown target: no relation
    assert len(problems) == 3
    assert any("table_9" in p for p in problems)


def test_empty_id_lists_still_allow_the_triggers_own_ids():
    trigger = Trigger(5, "camera", "person_4", "object_rest", "place_down", "cup_1", "on", "tray_2")
    text = '{"actor": "person_4", "action": "place", "object": "cup_1", "on": "tray_2"}'
    events, problems = parse_answer(text, [], [], trigger)
    assert _keys(events) == [("person_4", "place_down", "cup_1", "on", "tray_2", False)] and not problems
    assert parse_answer('{"actor": "person_5", "action": "grasp", "object": "cup_1"}', [], [], trigger)[0] == []


def test_confidence_is_read_when_valid():
    text = '[{"actor": "person_1", "action": "grasp", "object": "object_3", "confidence": 0.3}]'
    assert parse_answer(text, ACTORS, OBJECTS, TRIGGER)[0][0].confidence == pytest.approx(0.3)
    text = '[{"actor": "person_1", "action": "grasp", "object": "object_3", "confidence": "very"}]'
    assert parse_answer(text, ACTORS, OBJECTS, TRIGGER, confidence=0.8)[0][0].confidence == pytest.approx(0.8)


@pytest.mark.parametrize("spelling,action", [("pick_up", "grasp"), ("Picking up", "grasp"), ("place", "place_down"),
                                             ("put down", "place_down"), ("fill", "pour"), ("give", "handover"),
                                             ("hand-over", "handover"), (" hold ", "hold"), ("none", "idle"),
                                             ("fly", ""), (None, "")])
def test_action_synonyms(spelling, action):
    assert normalise_action(spelling) == action


def test_pathological_text_is_refused_quickly():
    assert extract_json("{" * 20_000) is None
    assert extract_json("[" * 3000 + "]" * 3000) is not None  # deep nesting: no RecursionError, an inner list
    events, problems = parse_answer("{'a': " * 5000, ACTORS, OBJECTS, TRIGGER)
    assert events == [] and problems


GROUND = Path(os.environ.get("MERGE_GROUND_DIR", Path(__file__).resolve().parents[2] / "shared" / "ground"))


def _ground_run_files():
    return sorted((GROUND / "scenes").glob("*/runs/*/*_id_*.json"))


@pytest.mark.skipif(not _ground_run_files(), reason=f"no GROUND runs under {GROUND}")
def test_every_answer_in_grounds_published_runs_parses_to_its_entries():
    """The VLMs' real answers (MERGE and the baselines, both the per-person and the nested-by-actor form), read
    back through the parser, give exactly the entries they hold."""
    checked = 0
    for path in _ground_run_files():
        data = json.loads(path.read_text())
        actor = path.stem.split("_id_", 1)[1]
        entries = []  # (actor, entry): per-person files hold entries, the baselines' files nest them by actor
        for item in data:
            entries.extend([(actor, item)] if "action" in item else item.items())
        expected, actors, objects = [], {actor}, set()
        for who, e in entries:
            actors.add(who)
            objects.update(v for k in ("object", "on", "in") if (v := e.get(k)))
            action = normalise_action(e["action"])
            if not action or (action != "idle" and not e["object"]):
                continue
            relation = "on" if e.get("on") else "in" if e.get("in") else ""
            key = (who, action, e["object"] if action != "idle" else "", relation,
                   e.get(relation, "") if relation else "", e["robot_interaction"])
            if key not in expected:
                expected.append(key)
        trigger = Trigger(1, "camera", actor, "object_moving")
        events, _ = parse_answer(path.read_text(), sorted(actors), sorted(objects), trigger)
        assert _keys(events) == expected, path
        checked += 1
    assert checked > 1000
