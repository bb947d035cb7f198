"""Core types <-> messages, both ways, for every type."""
from __future__ import annotations

import numpy as np
import pytest
import samples

from merge_ros.ros import conversions
from merge_ros.types import ReasonRequest, ReasonResult

PAIRS = [
    (samples.entity_frame, conversions.entity_frame_to_msg, conversions.entity_frame_from_msg),
    (samples.trigger, conversions.trigger_to_msg, conversions.trigger_from_msg),
    (samples.event, conversions.event_to_msg, conversions.event_from_msg),
    (samples.relation, conversions.relation_to_msg, conversions.relation_from_msg),
    (samples.scene, conversions.scene_to_msg, conversions.scene_from_msg),
    (samples.status, conversions.status_to_msg, conversions.status_from_msg),
]


@pytest.mark.parametrize(("make", "to_msg", "from_msg"), PAIRS, ids=lambda x: getattr(x, "__name__", ""))
def test_core_to_msg_and_back(make, to_msg, from_msg):
    core = make()
    msg = to_msg(core)
    assert from_msg(msg) == core
    assert to_msg(from_msg(msg)) == msg


def test_message_fields_carry_values():
    msg = conversions.entity_frame_to_msg(samples.entity_frame())
    assert msg.header.stamp.sec == samples.STAMP_NS // 10**9
    assert msg.header.stamp.nanosec == samples.STAMP_NS % 10**9
    person = msg.entities[0]
    assert (person.id, person.kind, person.track_id) == ("person_1", person.PERSON, 7)
    assert [k.name for k in person.keypoints] == ["left_wrist", "right_wrist"]
    assert msg.entities[2].kind == msg.entities[2].OBJECT
    event = conversions.event_to_msg(samples.event())
    assert (event.relation, event.target_id, event.source) == (event.RELATION_ON, "plate_2", event.SOURCE_VLM)


def test_reason_request_and_result_round_trip():
    png_friendly = np.zeros((32, 48, 3), np.uint8)
    png_friendly[8:24, 10:30] = (0, 0, 255)
    request = ReasonRequest(samples.trigger(), "Describe.", [png_friendly, samples.frame()],
                            ["object apple_1", "frame t-0"], ["person_1"], ["apple_1", "plate_2"])
    msg = conversions.reason_request_to_msg(request)
    assert [i.format for i in msg.images] == ["jpeg", "jpeg"]
    back = conversions.reason_request_from_msg(msg)
    assert back.trigger == request.trigger and back.captions == request.captions
    assert back.actor_ids == request.actor_ids and back.object_ids == request.object_ids
    for got, sent in zip(back.images, request.images, strict=True):
        assert got.shape == sent.shape
        assert np.abs(got.astype(int) - sent.astype(int)).mean() < 6  # JPEG is lossy, but close
    result = ReasonResult(True, "", '{"action": "grasp"}', [samples.event()])
    assert conversions.reason_result_from_msg(conversions.reason_result_to_msg(result)) == result


def test_time_conversion_is_exact_at_nanosecond_resolution():
    for ns in (0, 1, 999_999_999, 1_000_000_000, samples.STAMP_NS):
        assert conversions.time_to_ns(conversions.ns_to_time(ns)) == ns
