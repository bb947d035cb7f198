"""What tells one person from another: a face where one is visible, the colours the person actually wears, and
whether a view is good enough to say anything at all. Used by the identity gallery for PERSON detections.

Why these cues and not the generic appearance embedding (merge_ros.perception.embedding): a person's box at a table
holds the table, the objects, the robot and often part of another person, and a CNN embedding of the whole box
encodes that setting (measured on the GROUND person crops with the camera held fixed: 97 % of different-person
pairs looked at least as alike as a typical same-person pair). A face descriptor is trained to ignore clothes,
background and camera (merge_ros.perception.face: 0 % of those pairs); clothing colour, pooled with weights that
favour the box's middle over what also fills its border, still separates people in clearly different clothes
when no face is visible (40 %, far better than the embedding).

Each cue's similarity becomes a same-person log-likelihood ratio (LLR) through a calibration fitted on labelled
pairs (`Calibration.fit`: class-balanced logistic regression, i.e. Platt scaling), capped at what the cue can
prove (a face at about 1:150, dlib's error rate on LFW; colours at 1:20, since clothes can coincide). When both
views show a face, the face alone decides: it is the better cue and the colour of the same two views is not
independent evidence. Otherwise the colour decides. An LLR of 0 is even odds.

A view is good (may found a new identity or be learnt into one) when it is sharp enough for this camera and shows
either a face or a well-framed person (embedding.framing_quality); a poor view (the person mostly outside the
picture, blurred by motion, only an arm or hair) only ever goes to the best-matching existing identity.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from merge_ros.perception.embedding import foreground_weights, framing_quality

log = logging.getLogger(__name__)

# Colour histogram: hue x saturation x value bins for coloured pixels, value bins for the achromatic ones (black,
# grey and white clothes are common, and their "hue" is noise).
CHROMATIC_BINS = (12, 4, 4)
ACHROMATIC_BINS = 6
MIN_CHROMA = 40  # saturation and value below this (0-255) count as achromatic
COLOUR_SIDE = 96  # patches are shrunk to about this side first: colours need no detail, the cost stays small
SHARPNESS_WIDTH = 256  # sharpness is measured at this width, so boxes of any size compare
# The camera's own sharpness is learnt from the person views it shows (the latest ones); a view is blurred when
# far below the typical one: under blur_ratio x their median (a robust statistic even from a few views).
SHARPNESS_MEMORY = 400
SHARPNESS_MIN_SAMPLES = 10
RIDGE = 1e-8


@dataclass(frozen=True)
class Calibration:
    """similarity -> same-person LLR: scale x (similarity - zero) near even odds, saturating smoothly at +-cap
    (cap x tanh(linear / cap)): what a cue can prove is bounded, and a smooth bound keeps the order of two views
    that are both far beyond it, which the assignment among several people needs."""

    scale: float
    zero: float
    cap: float

    def llr(self, similarity: float) -> float:
        if self.cap <= 0:
            return 0.0
        return float(self.cap * np.tanh(self.scale * (similarity - self.zero) / self.cap))

    @classmethod
    def fit(cls, same: Sequence[float], different: Sequence[float], cap: float) -> Calibration:
        """Platt scaling on labelled similarities with both classes weighted equally (equal priors: the
        gallery's thresholds carry the priors), by Newton's method on the logistic log-likelihood (a faint ridge
        keeps the slope finite when the two classes do not overlap)."""
        x = np.concatenate([np.asarray(same, float), np.asarray(different, float)])
        y = np.concatenate([np.ones(len(same)), np.zeros(len(different))])
        if not len(same) or not len(different):
            raise ValueError("calibration needs same-person and different-person pairs")
        w = np.where(y == 1, 0.5 / len(same), 0.5 / len(different))
        a, b = 1.0, -float(np.mean(x))
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-(a * x + b)))
            g = np.array([np.sum(w * (p - y) * x) + RIDGE * a, np.sum(w * (p - y))])
            h = np.sum(w * p * (1 - p) * np.stack([x * x, x, x, np.ones_like(x)]), axis=1).reshape(2, 2)
            h[0, 0] += RIDGE
            step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
            a, b = a - step[0], b - step[1]
            if np.abs(step).max() < 1e-10:
                break
        return cls(float(a), float(-b / a), cap)


@dataclass
class PersonView:
    """One person observation as identity sees it; face None when none was searched for or found."""

    colour: np.ndarray
    framing: float
    sharpness: float
    face: np.ndarray | None = None
    face_searched: bool = False
    blurred: bool = False  # far less sharp than the camera's usual person views when it was taken

    def has_face(self) -> bool:
        return self.face is not None


def colour_histogram(patch: np.ndarray) -> np.ndarray:
    """Unit vector whose dot with another is their Bhattacharyya coefficient: the square root of an L1-normalised
    HSV histogram, pixels weighted by how much they belong to the person rather than to the box's surroundings."""
    small = _shrunk(patch, COLOUR_SIDE)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV).astype(np.int32)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    hb, sb, vb = CHROMATIC_BINS
    chromatic = (s >= MIN_CHROMA) & (v >= MIN_CHROMA)
    index = np.where(chromatic, ((h * hb // 180) * sb + s * sb // 256) * vb + v * vb // 256,
                     hb * sb * vb + np.minimum(v * ACHROMATIC_BINS // 256, ACHROMATIC_BINS - 1))
    weights = foreground_weights(small).astype(np.float64)
    hist = np.bincount(index.ravel(), weights=weights.ravel(), minlength=hb * sb * vb + ACHROMATIC_BINS)
    return np.sqrt(hist / max(float(hist.sum()), 1e-12)).astype(np.float32)


def sharpness(patch: np.ndarray) -> float:
    """Variance of the Laplacian of the grey patch at a fixed width: low for motion blur and defocus."""
    grey = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch
    height = max(1, round(grey.shape[0] * SHARPNESS_WIDTH / max(1, grey.shape[1])))
    return float(cv2.Laplacian(cv2.resize(grey, (SHARPNESS_WIDTH, height)), cv2.CV_64F).var())


def _shrunk(patch: np.ndarray, side: int) -> np.ndarray:
    if patch.ndim == 2:
        patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
    scale = side / max(1.0, float(np.sqrt(patch.shape[0] * patch.shape[1])))
    if scale >= 1.0:
        return patch
    size = (max(4, round(patch.shape[1] * scale)), max(4, round(patch.shape[0] * scale)))
    return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)


class PersonFeatures:
    """The cues of one patch, without any state of the camera (so a benchmark may cache them per image)."""

    def __init__(self, faces: bool = True, face_upsample: int = 1):
        self._faces_wanted = faces
        self._face_upsample = face_upsample
        self._face_model = None
        self.faces_searched = 0

    def __call__(self, patch: np.ndarray, with_face: bool) -> PersonView:
        """The patch's cues; the face (the costly part, about 0.1-0.2 s on a CPU core) only when asked for."""
        view = PersonView(colour_histogram(patch), framing_quality(patch), sharpness(patch))
        embedder = self._face_embedder() if with_face else None
        if embedder is not None:
            face = embedder.embed(patch)
            view.face, view.face_searched = (face.descriptor if face is not None else None), True
            self.faces_searched += 1
        return view

    def _face_embedder(self):
        """Loaded on first use; without dlib the face cue is off (logged once) and colours decide alone."""
        if self._face_model is None and self._faces_wanted:
            from merge_ros.perception.face import FaceEmbedder, FaceModelError

            try:
                self._face_model = FaceEmbedder(upsample=self._face_upsample)
            except FaceModelError as exc:
                log.warning("person identity without faces: %s", exc)
                self._faces_wanted = False
        return self._face_model


class PersonCues:
    """Describes person patches (with this camera's sharpness as the yardstick of blur) and scores a view
    against an identity's views (a same-person LLR)."""

    def __init__(self, face_calibration: Calibration, colour_calibration: Calibration, min_framing: float,
                 blur_ratio: float, features: Callable[[np.ndarray, bool], PersonView] | None = None):
        self.face_calibration = face_calibration
        self.colour_calibration = colour_calibration
        self.min_framing = min_framing
        self.blur_ratio = blur_ratio
        self.features = features or PersonFeatures()
        self._sharpness: deque[float] = deque(maxlen=SHARPNESS_MEMORY)

    def describe(self, patch: np.ndarray, with_face: bool) -> PersonView:
        """The view's cues, the face only when asked for: when an identity is decided, not when a tracked
        person is merely re-checked."""
        view = replace(self.features(patch, with_face))
        view.blurred = self._blurred(view.sharpness)
        self._sharpness.append(view.sharpness)
        return view

    def good(self, view: PersonView) -> bool:
        """May this view found an identity or be learnt into one (see the module docstring)?"""
        return not view.blurred and (view.has_face() or view.framing >= self.min_framing)

    def score(self, view: PersonView, references: Sequence[PersonView]) -> float | None:
        """Same-person LLR of view against an identity's views (None: the identity has no view to compare)."""
        if not references:
            return None
        if view.has_face():
            faces = [r.face for r in references if r.face is not None]
            if faces:
                return self.face_calibration.llr(float(np.max(np.stack(faces) @ view.face)))
        colours = np.stack([r.colour for r in references])
        return self.colour_calibration.llr(float(np.max(colours @ view.colour)))

    def _blurred(self, value: float) -> bool:
        """Far less sharp than this camera's usual person views (judged before the view joins them)."""
        if len(self._sharpness) < SHARPNESS_MIN_SAMPLES or self.blur_ratio <= 0:
            return False
        return value < self.blur_ratio * float(np.median(np.asarray(self._sharpness)))
