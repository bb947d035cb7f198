"""The guided request: which frames, crops and captions go in, in which order, and odd inputs."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from merge_ros.io.images import resize_longest
from merge_ros.reasoning.prompt import PromptConfig, RequestBuilder, answer_schema
from merge_ros.types import Box, Entity, EntityFrame, EntityKind, Trigger, seconds_to_ns
from merge_ros.vocabulary import ACTIONS

T0 = 1_700_000_000_000_000_000
W, H = 1280, 720  # source frames; requests carry them at longest side 512 (scale 0.4)


def stamp(t: float) -> int:
    return T0 + seconds_to_ns(t)


def coloured(index: int) -> np.ndarray:
    """A frame whose colour encodes its index, so a test can tell which frames a request holds."""
    return np.full((H, W, 3), (index * 10 % 256, 50, 200), np.uint8)


def entities(t: float) -> EntityFrame:
    return EntityFrame(stamp(t), "camera", [
        Entity("person_1", EntityKind.PERSON, "person", Box(100, 100, 400, 700)),
        Entity("person_2", EntityKind.PERSON, "person", Box(800, 100, 1100, 700)),
        Entity("robot_1", EntityKind.ROBOT, "robot arm", Box(1150, 0, 1280, 400)),
        Entity("object_3", EntityKind.OBJECT, "apple", Box(420, 500, 470, 550)),
        Entity("object_5", EntityKind.OBJECT, "plate", Box(900, 600, 1000, 640)),
    ])


def trigger(t: float = 2.0, actor: str = "person_1") -> Trigger:
    return Trigger(stamp(t), "camera", actor, "object_moving", "grasp", "object_3")


def builder_with_frames(config: PromptConfig | None = None, seconds: float = 2.0, fps: float = 10.0
                        ) -> RequestBuilder:
    builder = RequestBuilder(config or PromptConfig(sync_tolerance_s=0.0))
    for i in range(int(seconds * fps) + 1):
        builder.add_frame(stamp(i / fps), coloured(i))
    return builder


def frame_indices(request) -> list[int]:
    return [int(img[0, 0, 0]) // 10 for img, c in zip(request.images, request.captions, strict=True)
            if c.startswith("frame")]


def test_last_frames_are_spaced_by_the_interval_and_resized():
    builder = builder_with_frames()
    request = builder.build(trigger(2.0), entities(2.0))
    assert frame_indices(request) == [11, 14, 17, 20]  # at least 0.25 s apart, newest at the trigger
    frames = [img for img, c in zip(request.images, request.captions, strict=True) if c.startswith("frame")]
    assert all(img.shape == (288, 512, 3) for img in frames)
    assert [c for c in request.captions if c.startswith("frame")] == ["frame t-3", "frame t-2", "frame t-1",
                                                                      "frame t-0"]


def test_frames_after_the_trigger_are_not_used():
    request = builder_with_frames().build(trigger(1.0), entities(1.0))
    assert frame_indices(request) == [1, 4, 7, 10]


def test_image_order_captions_and_ids():
    builder = builder_with_frames()
    builder.observe(entities(2.0))
    others = {"person_2": Trigger(stamp(1.5), "camera", "person_2", "object_moving", "hold", "object_5")}
    request = builder.build(trigger(2.0), entities(2.0), others)
    assert request.captions == [
        "object_3 (apple)", "object_5 (plate)",
        "person_1 (tentative: grasp object_3)", "person_2 (tentative: hold object_5)", "robot_1 (robot)",
        "frame t-3", "frame t-2", "frame t-1", "frame t-0"]
    assert request.actor_ids == ["person_1", "person_2", "robot_1"]
    assert request.object_ids == ["object_3", "object_5"]
    assert len(request.images) == len(request.captions)
    for name in ("person_1", "person_2", "robot_1", "object_3", "object_5", *ACTIONS, "JSON"):
        assert name in request.prompt
    # person_1's crop: box 300x600 plus 15 % margin each side, clipped at the frame's bottom: 390x710 source px,
    # shrunk to 256 px high
    person = request.images[2]
    assert person.shape[0] == 256 and person.shape[1] == pytest.approx(256 * 390 / 710, abs=1)


def test_crops_come_from_the_frame_of_the_same_stamp():
    builder = RequestBuilder(PromptConfig(sync_tolerance_s=0.02))
    builder.add_frame(stamp(1.0), np.zeros((H, W, 3), np.uint8))
    frame = np.zeros((H, W, 3), np.uint8)
    frame[100:700, 100:400] = 255  # person_1 is white in the frame that matches
    builder.add_frame(stamp(1.1), frame)
    builder.add_frame(stamp(1.2), np.zeros((H, W, 3), np.uint8))
    request = builder.build(trigger(1.2), entities(1.1))
    person = request.images[request.captions.index("person_1 (tentative: grasp object_3)")]
    assert person.mean() > 150
    unsynced = builder.build(trigger(1.2), entities(1.15))  # 50 ms from any frame: no crops, frames still go
    assert not any(c.startswith("person") for c in unsynced.captions)
    assert any(c.startswith("frame") for c in unsynced.captions)


def test_reference_crops_from_a_scene_folder_and_first_sight(tmp_path):
    images = tmp_path / "object_images"
    images.mkdir()
    cv2.imwrite(str(images / "object_5.jpg"), np.full((300, 200, 3), 90, np.uint8))
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    builder = builder_with_frames()
    assert builder.load_references(tmp_path) == ["object_5"]
    builder.observe(entities(2.0))
    first = builder.references
    assert first == {"object_5": "", "object_3": "apple"}  # the folder's image wins; object_3 cropped when seen
    later = entities(2.0)
    later.entities[3].box = Box(0, 0, 10, 10)
    builder.observe(later)
    request = builder.build(trigger(2.0), entities(2.0))
    ref5 = request.images[request.captions.index("object_5 (plate)")]
    assert ref5.shape == (256, 171, 3) and int(ref5.mean()) in range(85, 96)  # the registered image, resized
    ref3 = request.images[request.captions.index("object_3 (apple)")]
    assert ref3.shape[:2] == (24, 24)  # 50 px box + 10 % margin at scale 0.4, from first sight


def test_known_instances_absent_from_the_frame_are_offered_after_the_seen_ones():
    builder = builder_with_frames(PromptConfig(sync_tolerance_s=0.0, max_objects=3))
    for object_id in ("cup_9", "bowl_8"):
        builder.register_reference(object_id, np.full((40, 40, 3), 128, np.uint8))
    request = builder.build(trigger(2.0), entities(2.0))
    # trigger's object first, then the nearest seen object, then registered instances, cut at max_objects
    assert request.object_ids == ["object_3", "object_5", "bowl_8"]


def test_no_entities_gives_frames_and_the_triggers_own_ids():
    builder = builder_with_frames()
    request = builder.build(trigger(2.0), EntityFrame(stamp(2.0), "camera", []))
    assert request.actor_ids == ["person_1"] and request.object_ids == ["object_3"]
    assert request.captions == ["frame t-3", "frame t-2", "frame t-1", "frame t-0"]
    assert builder.build(trigger(2.0), None).captions == request.captions


def test_no_frames_gives_no_request():
    assert RequestBuilder().build(trigger(), entities(2.0)) is None
    builder = RequestBuilder()
    builder.add_frame(stamp(5.0), coloured(1))
    assert builder.build(trigger(2.0), entities(2.0)) is None  # only frames after the trigger


def test_time_going_back_clears_the_buffer():
    builder = builder_with_frames()
    builder.add_frame(stamp(0.5), coloured(25))  # a bag restarting
    assert frame_indices(builder.build(trigger(0.5), None)) == [25]


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), np.uint8), np.zeros((10, 10), np.uint8), None])
def test_odd_frames_are_refused(bad):
    with pytest.raises(ValueError):
        RequestBuilder().add_frame(1, bad)


def test_resize_never_enlarges():
    small = np.zeros((100, 50, 3), np.uint8)
    assert resize_longest(small, 512)[0] is small
    assert resize_longest(np.zeros((1000, 2000, 3), np.uint8), 512)[0].shape == (256, 512, 3)


def test_answer_schema_enumerates_the_request_ids():
    schema = answer_schema(["person_1"], ["object_3"])
    entry = schema["properties"]["events"]["items"]
    assert entry["properties"]["actor"]["enum"] == ["person_1"]
    assert entry["properties"]["object"]["enum"] == ["object_3", ""]
    assert entry["properties"]["action"]["enum"] == list(ACTIONS)


def test_lazy_frames_are_decoded_only_when_used_and_bad_ones_skipped():
    decoded = []

    def lazy(index: int, ok: bool = True):
        def decode():
            decoded.append(index)
            if not ok:
                raise ValueError("cannot decode compressed image")
            return coloured(index)
        return decode

    builder = RequestBuilder(PromptConfig(sync_tolerance_s=0.0))
    for i in range(21):
        builder.add_frame(stamp(i / 10), lazy(i, ok=i != 17))
    assert decoded == []
    request = builder.build(trigger(2.0), None)
    assert frame_indices(request) == [10, 13, 16, 20] and builder.bad_frames == 1  # 17 failed: 16 instead
    assert sorted(decoded) == [10, 13, 16, 17, 20]
    builder.build(trigger(2.0), None)
    assert len(decoded) == 5  # decoded once
    builder.observe(EntityFrame(stamp(1.8), "camera", []))  # nothing new to crop: 1.8 s stays undecoded
    assert 18 not in decoded
    builder.observe(entities(1.8))
    assert 18 in decoded and set(builder.references) == {"object_3", "object_5"}


def test_boxes_that_are_not_finite_give_no_crop():
    builder = builder_with_frames()
    odd = entities(2.0)
    odd.entities[0].box = Box(float("nan"), 0, 10, 10)
    odd.entities[3].box = Box(0, 0, float("inf"), 10)
    builder.observe(odd)
    request = builder.build(trigger(2.0), odd)
    assert "object_3 (apple)" not in request.captions and not any(c.startswith("person_1") for c in request.captions)
