"""Person cues (merge_ros.perception.person_cues, merge_ros.perception.face): calibration, colours, view quality,
and the face descriptor on real footage where the GROUND crops are beside the checkout."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from merge_ros.perception.person_cues import (
    Calibration,
    PersonCues,
    PersonFeatures,
    PersonView,
    colour_histogram,
    sharpness,
)

GROUND_SCENES = Path(__file__).resolve().parents[1].parent / "shared" / "ground" / "scenes"


def test_calibration_fit_recovers_a_known_likelihood_ratio():
    """Similarities drawn from two classes whose log-likelihood ratio is linear: the fit finds that line."""
    rng = np.random.default_rng(0)
    same = rng.normal(0.9, 0.03, 4000)
    different = rng.normal(0.8, 0.03, 2000)  # class sizes differ: the fit weighs the classes equally anyway
    fitted = Calibration.fit(same, different, cap=50.0)
    # two equal-variance Gaussians: LLR(s) = (mu1 - mu0) / sigma^2 * (s - (mu0 + mu1) / 2)
    assert fitted.zero == pytest.approx(0.85, abs=0.003)
    assert fitted.scale == pytest.approx(0.1 / 0.03 ** 2, rel=0.08)
    assert fitted.llr(0.85) == pytest.approx(0.0, abs=0.4)
    capped = Calibration(fitted.scale, fitted.zero, cap=3.0)
    assert capped.llr(1.0) == pytest.approx(3.0, abs=1e-3) and capped.llr(0.5) == pytest.approx(-3.0, abs=1e-3)
    assert capped.llr(0.5) < capped.llr(0.6)  # bounded, but far-off views keep their order
    with pytest.raises(ValueError):
        Calibration.fit([0.9], [], cap=1.0)


def _shirt(colour: tuple[int, int, int], seed: int, background: int = 128) -> np.ndarray:
    """A person-like patch: a coloured torso in the middle of a noisy grey surround."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(background, 8, (240, 160, 3)), 0, 255).astype(np.uint8)
    img[60:200, 40:120] = np.clip(np.array(colour) + rng.normal(0, 6, (140, 80, 3)), 0, 255).astype(np.uint8)
    return img


def test_colour_histograms_compare_what_people_wear_not_their_surroundings():
    red, red_again, blue = _shirt((40, 40, 200), 1), _shirt((40, 40, 200), 2, background=90), _shirt((200, 60, 30), 3)
    a, b, c = (colour_histogram(p) for p in (red, red_again, blue))
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    # the same shirt before another background stays alike; another shirt before the same one does not
    assert float(a @ b) > 0.85 > float(a @ c) + 0.3


def test_a_view_is_poor_when_blurred_for_this_camera_or_badly_framed():
    cues = PersonCues(Calibration(1, 0, 1), Calibration(1, 0, 1), min_framing=0.62, blur_ratio=0.25,
                      features=PersonFeatures(faces=False))
    sharp = _shirt((40, 40, 200), 4)
    for i in range(12):  # the camera's usual views
        assert cues.good(cues.describe(_shirt((40, 40, 200), 10 + i), with_face=False))
    blurred = cv2.GaussianBlur(sharp, (0, 0), 6)
    assert sharpness(blurred) < 0.25 * sharpness(sharp)
    assert not cues.good(cues.describe(blurred, with_face=False))
    hidden = np.clip(np.random.default_rng(5).normal(128, 8, (240, 160, 3)), 0, 255).astype(np.uint8)
    hidden[:, :30] = (40, 40, 200)  # only a sliver of the person at the edge: badly framed
    assert not cues.good(cues.describe(hidden, with_face=False))
    # the same blurred view, to a camera whose views are all that soft, is a usual one
    soft = PersonCues(Calibration(1, 0, 1), Calibration(1, 0, 1), 0.62, 0.25, PersonFeatures(faces=False))
    for i in range(12):
        soft.describe(cv2.GaussianBlur(_shirt((40, 40, 200), 30 + i), (0, 0), 6), with_face=False)
    assert soft.good(soft.describe(blurred, with_face=False))


def test_the_face_decides_when_both_views_have_one():
    face_cal, colour_cal = Calibration(40.0, 0.93, 5.0), Calibration(25.0, 0.85, 3.0)
    cues = PersonCues(face_cal, colour_cal, 0.62, 0.25, features=PersonFeatures(faces=False))
    unit = np.zeros(128, np.float32)
    unit[0] = 1.0
    other = np.zeros(128, np.float32)
    other[1] = 1.0
    colour = colour_histogram(_shirt((40, 40, 200), 6))
    me = PersonView(colour, 0.7, 100.0, face=unit)
    # same clothes, another face: the face says no; no face on the view: the clothes say yes
    same_colours = colour_cal.llr(1.0)
    assert same_colours > 2.0
    assert cues.score(PersonView(colour, 0.7, 100.0, face=other), [me]) == pytest.approx(-5.0, abs=1e-3)
    assert cues.score(PersonView(colour, 0.7, 100.0), [me]) == pytest.approx(same_colours)
    assert cues.score(PersonView(colour, 0.7, 100.0, face=unit), [PersonView(colour, 0.7, 100.0)]) == \
        pytest.approx(same_colours)
    assert cues.score(me, []) is None


def _ground_crops() -> list[tuple[str, str, Path]]:
    out = []
    for index in sorted(GROUND_SCENES.glob("*/person_crops/index.json")):
        for r in json.loads(index.read_text()):
            if r.get("image") and (index.parent / r["image"]).is_file():
                out.append((index.parent.parent.name, r["person_id"], index.parent / r["image"]))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not GROUND_SCENES.is_dir(), reason="shared/ground/scenes is not beside this checkout")
def test_face_descriptors_tell_the_ground_persons_apart():
    """dlib's descriptor on real crops: one person's faces are closer to each other than to another's."""
    pytest.importorskip("dlib")
    from merge_ros.perception.face import FaceEmbedder

    embedder = FaceEmbedder()
    # Person IDs are per scene (one person may appear in several scenes under other IDs), so only persons of
    # one two-person scene are known to be different people.
    faces: dict[tuple[str, str], list[np.ndarray]] = {}
    for scene, person, path in _ground_crops():
        if scene.endswith("2P") and len(faces.get((scene, person), [])) < 4:
            face = embedder.embed(cv2.imread(str(path)))
            if face is not None:
                assert np.linalg.norm(face.descriptor) == pytest.approx(1.0, abs=1e-5)
                faces.setdefault((scene, person), []).append(face.descriptor)
    people = [p for p, f in faces.items() if len(f) >= 2]
    same = [float(a @ b) for p in people for i, a in enumerate(faces[p]) for b in faces[p][:i]]
    different = [float(a @ b) for p in faces for q in faces if p[0] == q[0] and p[1] < q[1]
                 for a in faces[p] for b in faces[q]]
    assert same and different
    assert np.median(same) > max(different)
    assert embedder.embed(np.full((200, 150, 3), 127, np.uint8)) is None  # no face, no descriptor
