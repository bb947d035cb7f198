"""The journal: a restarted world model carries on with the same state, history and event numbering."""
from __future__ import annotations

import pytest
from grounding_samples import cand

from merge_ros.grounding import GroundingConfig, Journal, JournalError, WorldModel
from merge_ros.io.event_log import read_event_log, read_events

STREAM = [
    cand(0.0, "person_1", "grasp", "apple_1"),
    cand(1.0, "person_2", "grasp", "cup_1", source="vlm", confidence=0.8),
    cand(2.0, "person_1", "place_down", "apple_1", "on", "plate_1"),
    cand(3.0, "person_2", "handover", "cup_1", target="robot_1", robot=True),
]


def feed(m: WorldModel, candidates) -> list:
    out = []
    for c in candidates:
        out += m.add_candidate(c)
    return out + m.finish()


def test_restart_restores_state_history_numbering_and_dedup_memory(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        first = WorldModel(GroundingConfig(), journal)
        published = feed(first, STREAM)
        scene_before = first.scene()
    assert [e.event_id for e in published] == ["evt-000001", "evt-000002", "evt-000003", "evt-000004"]
    assert read_events(path) == published  # every published event is on disk, in order

    with Journal(path) as journal:
        second = WorldModel(GroundingConfig(), journal)
        assert second.events() == published and second.event_count == 4
        assert second.relations() == scene_before.relations
        assert second.scene().event_count == 4
        # the actor's previous event is remembered: repeating it is still a duplicate after the restart
        assert feed(second, [cand(4.0, "person_1", "place_down", "apple_1", "on", "plate_1")]) == []
        [new] = feed(second, [cand(5.0, "person_1", "grasp", "apple_1")])
        assert new.event_id == "evt-000005"
    assert [e.event_id for e in read_events(path)] == [f"evt-{i:06d}" for i in range(1, 6)]


def test_torn_last_line_is_skipped_and_cut_so_appends_stay_readable(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        feed(WorldModel(GroundingConfig(), journal), STREAM[:2])
    with path.open("a") as f:
        f.write('{"stamp": 1700000002.0, "stamp_ns": 17000000020000')  # killed mid-append
    with Journal(path) as journal:
        assert [e.event_id for e in journal.restored] == ["evt-000001", "evt-000002"]
        m = WorldModel(GroundingConfig(), journal)
        [e] = feed(m, STREAM[2:3])
        assert e.event_id == "evt-000003"
    log = read_event_log(path)
    assert log.torn_lines == 0 and [e.event_id for e in log.events] == ["evt-000001", "evt-000002", "evt-000003"]


def test_complete_last_record_without_newline_is_kept(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        feed(WorldModel(GroundingConfig(), journal), STREAM[:2])
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # killed between the record and its newline
    with Journal(path) as journal:
        assert len(journal.restored) == 2
        feed(WorldModel(GroundingConfig(), journal), STREAM[2:3])
    assert [e.event_id for e in read_events(path)] == ["evt-000001", "evt-000002", "evt-000003"]


def test_a_malformed_line_inside_the_journal_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        feed(WorldModel(GroundingConfig(), journal), STREAM[:2])
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "not json\n" + lines[1])
    before = path.read_bytes()
    with pytest.raises(JournalError, match="journal.jsonl:2"):
        Journal(path)
    assert path.read_bytes() == before


def test_fsync_mode_writes_the_same_records(tmp_path):
    with Journal(tmp_path / "a.jsonl", fsync=True) as a, Journal(tmp_path / "b.jsonl") as b:
        assert feed(WorldModel(GroundingConfig(), a), STREAM) == feed(WorldModel(GroundingConfig(), b), STREAM)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
