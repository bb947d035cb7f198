"""Event logs: JSON lines written and read back exactly, torn and malformed lines, Events from real rosbag2 bags."""
from __future__ import annotations

import io
import json

import pytest
import samples
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer

from merge_ros.evaluation.runs import load_predictions
from merge_ros.io.event_log import (
    append_event,
    event_from_json,
    event_to_json,
    read_event_log,
    read_events,
    read_events_from_bag,
    write_events,
)
from merge_ros.io.rostypes import typestore
from merge_ros.ros import conversions
from merge_ros.types import Event


def events() -> list[Event]:
    base = samples.event()  # stamp_ns ends in ...205: not representable as float seconds
    return [base,
            Event(base.stamp_ns + 1_500_000_001, "person_2", "pour", "cup_1", "in", "bowl_1", False, 0.5, "grounding",
                  "evt-000004", "", "camera"),
            Event(base.stamp_ns + 3_000_000_000, "robot_1", "handover", "apple_1", robot_interaction=True)]


def test_json_round_trip_is_exact_to_the_nanosecond():
    for e in events():
        d = event_to_json(e)
        assert set(d) == {"stamp", "stamp_ns", "event_id", "actor_id", "action", "object_id", "relation",
                          "target_id", "robot_interaction", "confidence", "source", "trigger_id", "frame_id"}
        assert d["stamp"] == pytest.approx(e.stamp_ns / 1e9)
        assert event_from_json(json.loads(json.dumps(d))) == e
    assert int(event_to_json(samples.event())["stamp"] * 1e9) != samples.event().stamp_ns  # why stamp_ns exists


def test_append_writes_one_flushed_line_per_event(tmp_path):
    path = tmp_path / "events.jsonl"
    with path.open("w") as f:
        for i, e in enumerate(events()):
            append_event(f, e)
            assert len(path.read_text().splitlines()) == i + 1  # on disk before the file is closed
    assert read_events(path) == events()
    buf = io.StringIO()
    append_event(buf, events()[0])
    assert buf.getvalue().count("\n") == 1 and buf.getvalue().endswith("\n")


def test_seconds_only_records_and_field_errors():
    e = event_from_json({"stamp": 12.25, "actor_id": "p", "action": "hold"})
    assert (e.stamp_ns, e.object_id, e.source, e.confidence) == (12_250_000_000, "", "perception", 1.0)
    for bad, field in [({"actor_id": "p", "action": "hold"}, "stamp_ns"),
                       ({"stamp_ns": 1, "action": "hold"}, "actor_id"),
                       ({"stamp_ns": 1.5, "actor_id": "p", "action": "hold"}, "stamp_ns"),
                       ({"stamp_ns": 1, "actor_id": "p", "action": 3}, "action"),
                       ({"stamp_ns": 1, "actor_id": "p", "action": "hold", "robot_interaction": "yes"},
                        "robot_interaction"),
                       ({"stamp_ns": 1, "actor_id": "p", "action": "hold", "confidence": "high"}, "confidence")]:
        with pytest.raises(ValueError, match=field):
            event_from_json(bad)


def test_torn_last_line_is_skipped_and_counted(tmp_path):
    path = tmp_path / "events.jsonl"
    write_events(path, events()[:2])
    with path.open("a") as f:
        f.write(json.dumps(event_to_json(events()[2]))[:40])  # a crash in the middle of an append
    log = read_event_log(path)
    assert log.events == events()[:2] and log.torn_lines == 1
    assert read_events(path) == events()[:2]


def test_malformed_middle_line_names_its_line(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(event_to_json(e)) for e in events()]
    path.write_text("\n".join([lines[0], "{\"stamp_ns\": 5", lines[1], ""]) + "\n")
    with pytest.raises(ValueError, match=r"events\.jsonl:2:"):
        read_events(path)
    # a complete last line (newline written) that is wrong is no torn write: it is an error too
    path.write_text(lines[0] + "\n" + "[1, 2]\n")
    with pytest.raises(ValueError, match=r":2: .*JSON object"):
        read_events(path)


def write_bag(path, storage: StoragePlugin) -> None:
    """A bag as `ros2 bag record` would write it: rclpy's CDR bytes; a candidate topic and an image beside."""
    store = typestore()
    with Writer(path, version=9, storage_plugin=storage) as writer:
        ev = writer.add_connection("/events", "merge_ros/msg/Event", typestore=store)
        cand = writer.add_connection("/candidates", "merge_ros/msg/Event", typestore=store)
        img = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=store)
        writer.write(img, 1, serialize_message(conversions.image_msg(samples.frame(), "bgr8", samples.STAMP_NS,
                                                                     "camera")))
        for i, e in enumerate(events()):
            writer.write(ev, e.stamp_ns, serialize_message(conversions.event_to_msg(e)))
            writer.write(cand, e.stamp_ns + i,
                         serialize_message(conversions.event_to_msg(Event(e.stamp_ns, "x", "idle"))))


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_events_from_a_rosbag2_bag(tmp_path, storage):
    path = tmp_path / "bag"
    write_bag(path, storage)
    assert read_events_from_bag(path) == events()
    assert [e.actor_id for e in read_events_from_bag(path, "/candidates")] == ["x"] * 3
    with pytest.raises(ValueError, match=r"'/scene'.*/candidates, /events"):
        read_events_from_bag(path, "/scene")
    storage_file = next(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
    assert read_events_from_bag(storage_file) == events()  # a bare storage file, no metadata.yaml
    preds = load_predictions(path)
    assert sorted(preds) == ["person_1", "person_2", "robot_1"]
    assert preds["person_1"][0].record == [{"object": "apple_1", "action": "place_down", "robot_interaction": True,
                                            "on": "plate_2"}]
    assert load_predictions(tmp_path) == preds  # a run folder that holds one bag


def test_evaluate_command_reads_the_bag_topic(tmp_path, capsys):
    from merge_ros import cli

    write_bag(tmp_path / "bag", StoragePlugin.MCAP)
    e = events()[0]
    gt = {e.actor_id: {str(e.stamp + 1): [{"object": e.object_id, "action": e.action, "on": e.target_id,
                                          "robot_interaction": True}]}}
    (tmp_path / "ground_truth.json").write_text(json.dumps(gt))
    results = {}
    for topic in ("/events", "/candidates"):
        assert cli.main(["evaluate", "--gt", str(tmp_path / "ground_truth.json"), "--pred", str(tmp_path / "bag"),
                         "--topic", topic, "--format", "json"]) == 0
        results[topic] = json.loads(capsys.readouterr().out)["overall"]
    assert (results["/events"]["TP"], results["/events"]["FP"], results["/events"]["FN"]) == (1, 2, 0)
    assert (results["/candidates"]["TP"], results["/candidates"]["FP"], results["/candidates"]["FN"]) == (0, 3, 1)
