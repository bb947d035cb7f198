"""Persistent identity (merge_ros.perception.identity) on hand-made frames, with the real MobileNetV2 embedder.

Instances are textured patches (stripes, checks, dots) that the embedder tells apart, drawn on a noisy grey
background at chosen boxes, so each test controls exactly who is where and when.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from merge_ros.bench.identity import count_id_switches, identity_frame_ms
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.perception.detection import Detection
from merge_ros.perception.embedding import MobileNetV2Embedder, framing_quality
from merge_ros.perception.identity import IdentityConfig, IdentityGallery, register_scene
from merge_ros.perception.person_cues import PersonFeatures
from merge_ros.types import Box, EntityKind, Keypoint, seconds_to_ns

PERSON, ROBOT, OBJECT = EntityKind.PERSON, EntityKind.ROBOT, EntityKind.OBJECT


def pattern(name: str, h: int, w: int) -> np.ndarray:
    img = np.full((h, w, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    if name == "stripes":
        img[(xx // 8) % 2 == 0] = (40, 40, 200)
        img[(xx // 8) % 2 == 1] = (240, 240, 240)
    elif name == "checks":
        img[((xx // 12) + (yy // 12)) % 2 == 0] = (200, 80, 20)
        img[((xx // 12) + (yy // 12)) % 2 == 1] = (30, 30, 30)
    elif name == "dots":
        img[:] = (60, 180, 60)
        img[((xx % 16 - 8) ** 2 + (yy % 16 - 8) ** 2) < 20] = (250, 250, 250)
    elif name == "bands":
        img[(yy // 6) % 2 == 0] = (0, 200, 250)
        img[(yy // 6) % 2 == 1] = (90, 0, 90)
    else:
        raise ValueError(name)
    return img


def frame_with(items: list[tuple[str, Box]], seed: int = 0, h: int = 480, w: int = 640) -> np.ndarray:
    frame = np.random.default_rng(seed).integers(100, 140, (h, w, 3)).astype(np.uint8)
    for name, b in items:
        x0, y0, x1, y1 = (int(v) for v in b.as_list())
        frame[y0:y1, x0:x1] = pattern(name, y1 - y0, x1 - x0)
    return frame


def ns(t: float) -> int:
    return seconds_to_ns(1000.0 + t)


def person(box: Box, track: int = -1, hint: str = "") -> Detection:
    return Detection(PERSON, "person", box, 0.9, track_id=track, hint_id=hint)


A_BOX, B_BOX = Box(60, 100, 160, 320), Box(360, 110, 460, 330)


@pytest.fixture(scope="module")
def embedder() -> MobileNetV2Embedder:
    return MobileNetV2Embedder()


def gallery(embedder, **config) -> IdentityGallery:
    return IdentityGallery(IdentityConfig(**config), embedder)


def test_register_scene_uses_file_stems_and_skips_unreadable_images(tmp_path, embedder):
    for folder, stem, name in (("object_images", "red_cup", "stripes"), ("person_images", "alice", "checks"),
                               ("robot_images", "arm", "bands")):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / f"{stem}.png"), pattern(name, 160, 90))
    (tmp_path / "person_images" / "broken.png").write_bytes(b"not a png")
    g = gallery(embedder)
    assert register_scene(g, SceneFolder(tmp_path)) == 3
    assert (g.ids(OBJECT), g.ids(PERSON), g.ids(ROBOT)) == (["red_cup"], ["alice"], ["arm"])

    frame = frame_with([("checks", A_BOX), ("stripes", Box(300, 350, 360, 420)), ("bands", B_BOX)])
    out = g.assign(frame, [person(A_BOX), Detection(OBJECT, "cup", Box(300, 350, 360, 420)),
                           Detection(ROBOT, "robot", B_BOX)], ns(0))
    assert [e.id for e in out] == ["alice", "red_cup", "arm"]


def test_new_instances_get_new_ids_with_their_kind_prefix(embedder):
    g = gallery(embedder)
    g.register("person_1", PERSON, "person", pattern("stripes", 200, 100))
    c_box, d_box = Box(220, 90, 300, 300), Box(500, 360, 550, 410)
    frame = frame_with([("checks", A_BOX), ("stripes", c_box), ("bands", B_BOX), ("dots", d_box)])
    out = g.assign(frame, [person(A_BOX), person(c_box), Detection(ROBOT, "robot", B_BOX),
                           Detection(OBJECT, "ball", d_box)], ns(0))
    # The registered stripes person is here too, so checks is someone new, and skips the registered stem.
    assert [e.id for e in out] == ["person_2", "person_1", "robot_1", "object_1"]
    assert [e.kind for e in out] == [PERSON, PERSON, ROBOT, OBJECT]


@pytest.mark.parametrize("tracked", [True, False], ids=["new-track-after-gap", "no-tracker"])
def test_occluded_actor_returning_elsewhere_keeps_its_id(embedder, tracked):
    g = gallery(embedder)
    seen: list[tuple[str, str]] = []

    def step(t: float, items: list[tuple[str, Box, int]]) -> None:
        frame = frame_with([(n, b) for n, b, _ in items], seed=int(t * 10))
        out = g.assign(frame, [person(b, track if tracked else -1) for _, b, track in items], ns(t))
        seen.extend((n, e.id) for (n, _, _), e in zip(items, out, strict=True))

    for i in range(5):
        step(0.1 * i, [("checks", A_BOX, 1), ("stripes", B_BOX, 2)])
    for i in range(5, 40):  # checks is hidden for 3.5 s, far longer than the tracker bridges
        step(0.1 * i, [("stripes", B_BOX, 2)])
    moved = Box(220, 90, 320, 310)
    for i in range(40, 45):  # back, elsewhere, under a new raw track ID
        step(0.1 * i, [("checks", moved, 7), ("stripes", B_BOX, 2)])
    ids = {name: {i for n, i in seen if n == name} for name in ("checks", "stripes")}
    assert len(ids["checks"]) == 1 and len(ids["stripes"]) == 1 and ids["checks"] != ids["stripes"]
    assert count_id_switches(seen) == 0


def test_two_alike_detections_in_one_frame_never_share_an_id(embedder):
    g = gallery(embedder)
    g.register("alice", PERSON, "person", pattern("checks", 220, 100))
    frame = frame_with([("checks", A_BOX), ("checks", B_BOX)])
    for t in (0.0, 0.1, 0.2):
        ids = [e.id for e in g.assign(frame, [person(A_BOX), person(B_BOX)], ns(t))]
        assert len(set(ids)) == 2 and "alice" in ids


def test_hint_ids_are_used_directly_without_embedding(embedder):
    g = gallery(embedder, use_hint_ids=True)
    frame = frame_with([("checks", A_BOX), ("stripes", B_BOX)])
    out = g.assign(frame, [person(A_BOX, 3, "person_7"), Detection(OBJECT, "cup", B_BOX, hint_id="cup_2")], ns(0))
    assert [e.id for e in out] == ["person_7", "cup_2"]
    assert g.embeddings_computed == 0
    # A hint already used in the frame is not reused: that detection is identified the ordinary way.
    out = g.assign(frame, [person(A_BOX, 3, "person_7"), person(B_BOX, 4, "person_7")], ns(0.1))
    assert out[0].id == "person_7" and out[1].id not in ("person_7", "cup_2")
    # Without use_hint_ids the hints are ignored.
    plain = gallery(embedder)
    assert plain.assign(frame, [person(A_BOX, hint="person_7")], ns(0))[0].id == "person_1"


def test_robots_are_actors_matched_only_to_robots(embedder):
    g = gallery(embedder)
    g.register("ur5", ROBOT, "robot", pattern("bands", 200, 100))
    frame = frame_with([("bands", A_BOX), ("bands", B_BOX)])
    out = g.assign(frame, [Detection(ROBOT, "robot arm", A_BOX), person(B_BOX)], ns(0))
    assert out[0].id == "ur5" and out[0].is_actor
    assert out[1].id == "person_1"  # looks like the robot, but a person is never given a robot's ID


def test_established_tracks_keep_their_ids_without_embedding(embedder):
    g = gallery(embedder, refresh_interval_s=60.0)
    frame = frame_with([("checks", A_BOX), ("stripes", B_BOX)])
    first = g.assign(frame, [person(A_BOX, 1), person(B_BOX, 2)], ns(0))
    spent = g.embeddings_computed
    for i in range(1, 30):
        out = g.assign(frame, [person(A_BOX, 1), person(B_BOX, 2)], ns(0.1 * i))
        assert [e.id for e in out] == [e.id for e in first]
    assert g.embeddings_computed == spent


def test_entities_copy_the_detection_and_age_from_first_sighting(embedder):
    g = gallery(embedder)
    frame = frame_with([("checks", A_BOX)])
    kps = [Keypoint("left_wrist", 70.0, 250.0, 0.8)]
    g.assign(frame, [person(A_BOX, 5)], ns(0))
    e = g.assign(frame, [Detection(PERSON, "person", A_BOX, 0.77, kps, track_id=5)], ns(2.5))[0]
    assert (e.box, e.confidence, e.keypoints, e.track_id, e.label) == (A_BOX, 0.77, kps, 5, "person")
    assert e.track_age == pytest.approx(2.5)


def test_tracker_swap_after_overlap_is_undone_by_appearance(embedder):
    g = gallery(embedder, max_verifications_per_frame=2)
    ids: list[str] = []

    def step(i: int, dx: int, tracks: tuple[int, int]) -> list[str]:
        a, b = Box(60 + dx, 100, 160 + dx, 320), Box(360 - dx, 110, 460 - dx, 330)
        frame = frame_with([("checks", a), ("stripes", b)], seed=i)
        out = g.assign(frame, [person(a, tracks[0]), person(b, tracks[1])], ns(0.1 * i))
        return [e.id for e in out]

    ids = step(0, 0, (1, 2))
    for i, dx in enumerate((30, 60, 90, 120, 150), 1):  # they walk up to each other until the boxes overlap
        step(i, dx, (1, 2))
    # They step back apart, and the tracker has swapped its IDs: track 2 now follows checks.
    for i, dx in enumerate((100, 50, 0), 6):
        assert step(i, dx, (2, 1)) == ids


def test_poor_view_of_a_registered_person_keeps_the_registered_id(embedder):
    g = gallery(embedder)
    g.register("alice", PERSON, "person", pattern("checks", 220, 100))
    frame = frame_with([("checks", A_BOX)])
    frame[100:290, 60:160] = frame_with([])[100:290, 60:160]  # mostly hidden: a sliver of checks is left
    assert g.assign(frame, [person(A_BOX)], ns(0))[0].id == "alice"


def test_framing_quality_prefers_a_centred_instance():
    centred = frame_with([("checks", Box(40, 40, 120, 200))], h=240, w=160)
    cut_off = frame_with([("checks", Box(110, 0, 160, 240))], h=240, w=160)
    assert framing_quality(centred) > framing_quality(cut_off) + 0.1


def test_bad_inputs_give_clear_errors_or_still_an_id(embedder):
    with pytest.raises(ValueError, match="match_similarity"):
        IdentityConfig(match_similarity=1.5)
    g = gallery(embedder)
    with pytest.raises(ValueError, match="empty"):
        g.register("x", PERSON, "person", np.zeros((0, 10, 3), np.uint8))
    g.register("p", PERSON, "person", pattern("checks", 100, 50))
    with pytest.raises(ValueError, match="already registered"):
        g.register("p", ROBOT, "robot", pattern("checks", 100, 50))
    frame = frame_with([])
    out = g.assign(frame, [person(Box(900, 900, 950, 990)), person(Box(10, 10, 11, 11))], ns(0))
    assert len({e.id for e in out}) == 2  # boxes outside the frame or too small still get distinct IDs


def test_count_id_switches():
    assert count_id_switches([]) == 0
    assert count_id_switches([("a", "p1"), ("b", "p2"), ("a", "p1"), ("b", "p2")]) == 0
    assert count_id_switches([("a", "p1"), ("a", "p3"), ("a", "p3"), ("a", "p1")]) == 2
    assert count_id_switches([("a", "p1"), ("b", "p1")]) == 0  # a shared ID is not a switch of either


def test_steady_state_cost_measure_re_embeds_each_track_once_per_period(embedder):
    calls: list[int] = []

    class CountingEmbedder:  # the real embedder, counted
        dim = embedder.dim

        def embed(self, images):
            calls.append(len(images))
            return embedder.embed(images)

    person_calls: list[bool] = []
    features = PersonFeatures()

    def counting_features(patch, with_face):  # persons are described by their own cues, counted too
        person_calls.append(with_face)
        return features(patch, with_face)

    config = IdentityConfig(refresh_interval_s=1.0)
    times = identity_frame_ms(n_actors=2, n_objects=3, frames=5, embedder=CountingEmbedder(), config=config,
                              person_features=counting_features)
    # 5 registrations, 5 new tracks in the first frame, the first re-check wave, then the measured period: for
    # the 2 persons (both actors are persons) in person cues, the 3 objects in the embedder.
    assert len(times) == 10 and all(t > 0 for t in times)
    assert sum(calls) + len(person_calls) == 5 + 5 + 5 + 5
    assert len(person_calls) == 4 * 2
    # the face, the costly cue, is searched when an identity is decided (registration, new tracks), not on re-checks
    assert person_calls == [True, True, True, True, False, False, False, False]


def test_registering_the_same_reference_again_adds_nothing(embedder):
    g = gallery(embedder)
    for _ in range(3):
        g.register("alice", PERSON, "person", pattern("checks", 200, 100))
    g.register("alice", PERSON, "person", pattern("stripes", 200, 100))  # another view of her does count
    frame = frame_with([("stripes", A_BOX)])
    assert g.assign(frame, [person(A_BOX)], ns(0))[0].id == "alice"
    assert g.reference_count("alice") == 2
