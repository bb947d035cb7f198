"""The annotations detector: frames matched to annotated lines by stamp, hints, scrambled track IDs, bad files."""
from __future__ import annotations

import numpy as np
import pytest

from merge_ros.io.annotations import AnnotatedFrame, write_annotations
from merge_ros.params import ParameterError
from merge_ros.perception.annotations_detector import AnnotationsConfig, AnnotationsDetector
from merge_ros.types import Box, Entity, EntityKind, Keypoint, seconds_to_ns

FRAME = np.zeros((48, 64, 3), np.uint8)
STAMPS = [100.0, 100.1, 100.2, 100.3]


def _person(x: float) -> Entity:
    return Entity("person_1", EntityKind.PERSON, "person", Box(x, 5.0, x + 20.0, 45.0), 0.9,
                  [Keypoint("left_wrist", x + 2.0, 30.0, 0.8), Keypoint("right_wrist", x + 18.0, 31.0, 0.7)],
                  track_id=4)


def _apple() -> Entity:
    return Entity("apple_1", EntityKind.OBJECT, "apple", Box(40.0, 30.0, 50.0, 40.0), 0.6, track_id=7)


@pytest.fixture
def annotations(tmp_path):
    """person_1 is absent from the third line (a gap); apple_1 is always there."""
    frames = [AnnotatedFrame(s, f"images/{s:.6f}.jpg", ([_person(10.0 + i)] if i != 2 else []) + [_apple()])
              for i, s in enumerate(STAMPS)]
    path = tmp_path / "annotations.jsonl"
    write_annotations(path, frames)
    return path


def test_frames_match_by_stamp_within_the_tolerance(annotations):
    det = AnnotationsDetector(AnnotationsConfig(str(annotations), annotations_tolerance=0.01))
    got = det.detect(FRAME, seconds_to_ns(100.1) + 4_000_000)  # 4 ms late: still line 2
    assert [(d.kind, d.label, d.track_id, d.hint_id) for d in got] == [
        (EntityKind.PERSON, "person", 4, ""), (EntityKind.OBJECT, "apple", 7, "")]
    assert got[0].box == Box(11.0, 5.0, 31.0, 45.0)
    assert [(k.name, k.x, k.score) for k in got[0].keypoints] == [("left_wrist", 13.0, 0.8), ("right_wrist", 29.0, 0.7)]
    assert det.detect(FRAME, seconds_to_ns(100.05)) == []  # between two lines, 50 ms from either
    assert det.unmatched == 1
    assert [d.label for d in det.detect(FRAME, seconds_to_ns(100.2))] == ["apple"]
    assert det.detect(FRAME, seconds_to_ns(99.0)) == [] and det.detect(FRAME, seconds_to_ns(101.0)) == []
    assert det.unmatched == 3


def test_hint_ids_pass_the_true_ids(annotations):
    det = AnnotationsDetector(AnnotationsConfig(str(annotations), hint_ids=True))
    assert [d.hint_id for d in det.detect(FRAME, seconds_to_ns(100.0))] == ["person_1", "apple_1"]


def test_scrambled_track_ids_change_after_every_gap(annotations):
    det = AnnotationsDetector(AnnotationsConfig(str(annotations), scramble_track_ids=True))
    ids = [{d.label: d.track_id for d in det.detect(FRAME, seconds_to_ns(s))} for s in STAMPS]
    assert ids[0]["person"] == ids[1]["person"]
    assert ids[3]["person"] not in (ids[0]["person"], ids[0]["apple"])  # back after the gap: a new raw ID
    assert len({i["apple"] for i in ids}) == 1  # never absent: one ID
    # and the file's own IDs are not used
    assert AnnotationsDetector(AnnotationsConfig(str(annotations))).detect(FRAME, seconds_to_ns(100.3))[0].track_id == 4


def test_missing_or_malformed_file_names_the_parameter(tmp_path):
    with pytest.raises(ParameterError, match="annotations_file.*does not exist") as err:
        AnnotationsDetector(AnnotationsConfig(str(tmp_path / "nope.jsonl")))
    assert err.value.parameter == "annotations_file"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"stamp": 1.0, "entities": []}\n{"stamp": 2.0, "entities": [{"id": "x", "kind": "alien"}]}\n')
    with pytest.raises(ParameterError, match=r"annotations_file.*bad.jsonl:2"):
        AnnotationsDetector(AnnotationsConfig(str(bad)))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ParameterError, match="no annotated frame"):
        AnnotationsDetector(AnnotationsConfig(str(empty)))
