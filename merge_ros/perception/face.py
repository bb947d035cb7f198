"""Face descriptors of persons for the identity gallery (merge_ros.perception.identity).

Why a face: a person's clothing embedding (merge_ros.perception.embedding) describes whatever the box holds, and a
person box at a table holds the table, the objects, the robot and sometimes another person; two people in dark
tops, or one person seen from two cameras, are not told apart reliably by it. A face descriptor is trained to be
invariant to all of that: dlib's ResNet face recognition model (128-D, the model behind face_recognition, trained
on about 3 million faces of 7485 people, 99.38 % on LFW) maps one person's faces close together whatever the
clothes, the background or the camera. Measured on the GROUND person crops (eight scenes, two different people in
the two-person scenes): with HOG detection at upsample 1 a face is found in 124 of 228 crops (in nearly every
frontal view, in few views from behind or from above); unit-descriptor distances of one person within a scene
have median 0.26, 99th percentile 0.38, maximum 0.41 (a blurred face walking in); of the two different people,
over all recordings, median 0.47, 1st percentile 0.41, minimum 0.39. dlib's published decision threshold is
0.6 on the raw descriptor, whose norm is about 1.46: 0.41 on the unit descriptor returned here. These small
faces (43-63 px, seen from above) are less distinct than LFW's, so a gallery should calibrate the distance (a
same-person log-likelihood ratio) rather than use a hard threshold. Face.quality (size, detector margin) did
not predict descriptor errors on these crops, where all faces are small.

Why it is not enough alone: no face is found in about half the crops (person turned away, seen from above,
mostly outside the box), so the face is one calibrated cue among others, and a missing face says nothing about
who it is. The detection itself (a face of good size and score) is also evidence that the box shows a person
well, which the gallery's view-quality rule uses.

Models: dlib's frontal-face HOG detector (built into dlib), its 5-point landmark model and its ResNet descriptor,
both from the face_recognition_models package (no download at run time). dlib is imported on first use only;
a clear FaceModelError says what to install when it is missing. Cost, CPU time on one core of the 2-core
development machine, GROUND crops of about 300 x 400 px: HOG detection about 50 ms at upsample 1 (11 ms at 0,
which finds none of these 43-63 px faces: the HOG window is 80 px; about 4x at 2, which finds no more), the
descriptor about 140 ms per face found (dlib-bin is built without BLAS; a dlib built with OpenBLAS is several
times faster), so about 190 ms when a face is found and 127 ms per crop on average here. Compute it when an
identity is decided (a new or doubtful track), not on every frame.
A FaceEmbedder is not thread-safe: use one per thread.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from merge_ros.io.images import resize_longest

SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
# The HOG detector's window: faces smaller than this (in the upsampled image) are not found, and the descriptor
# model was trained on faces about this size and larger, so it also scales the quality.
HOG_WINDOW_PX = 80
DESCRIPTOR_DIM = 128
# dlib's published same-person threshold (0.6 on its raw descriptor, norm ~1.46), on the unit descriptor. On the
# small GROUND faces a calibrated same-person log-likelihood ratio crosses zero nearer 0.35 (see the docstring).
UNIT_SAME_PERSON_DISTANCE = 0.41


class FaceModelError(RuntimeError):
    """dlib or the face models are missing; the text says what to install."""


@dataclass(frozen=True)
class Face:
    """One face found in a person patch.

    descriptor: unit-length 128-D float32 (Euclidean distance of two: same person below about 0.41; cosine
    similarity = 1 - distance^2 / 2). box: (x0, y0, x1, y1) in the patch's pixels. score: the HOG detector's
    margin (0 = its default threshold; higher = clearer frontal face). size_px: the face box side in the patch.
    quality: in [0, 1], sigmoid(2 * score) * min(1, size_px / 80): how far the descriptor can be trusted in
    general (small or marginal detections give noisier descriptors; on the GROUND crops, whose faces are all
    small, it did not separate good descriptors from bad ones).
    """

    descriptor: np.ndarray
    box: tuple[int, int, int, int]
    score: float
    size_px: float
    quality: float


def face_models_dir() -> Path:
    """The folder of face_recognition_models' model files (found without importing the package, which pulls in
    the deprecated pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelError("face_recognition_models is not installed: pip install face_recognition_models "
                             "(pinned in tools/requirements.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in (SHAPE_MODEL, DESCRIPTOR_MODEL):
        if not (path / name).is_file():
            raise FaceModelError(f"{path / name} is missing (face_recognition_models installed without its models)")
    return path


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise FaceModelError("dlib is not installed: pip install dlib-bin (the prebuilt wheel, pinned in "
                             "tools/requirements.txt)") from exc
    return dlib


class FaceEmbedder:
    """Finds the face in a person image patch and describes it (see the module docstring).

    upsample: HOG pyramid upsampling (1 finds faces from about 40 px; 2 from about 20 px at four times the cost).
    min_score: detections below this HOG margin are ignored (0 = dlib's default). max_side: a patch whose longer
    side exceeds this is scaled down first (faces in a person box that large are large too), bounding the cost;
    None = never. top_fraction: only the upper part of the patch is searched (1.0 = all; 0.6 suits detector
    person boxes, whose head is in their upper half; not crops with the person anywhere). jitters: dlib's
    num_jitters (descriptor averaged over this many jittered copies; 0 = one plain pass; each more costs another
    descriptor pass, about 140 ms here).
    """

    dim = DESCRIPTOR_DIM

    def __init__(self, upsample: int = 1, min_score: float = 0.0, max_side: int | None = 480,
                 top_fraction: float = 1.0, jitters: int = 0, models_dir: Path | str | None = None):
        if upsample < 0 or not 0.0 < top_fraction <= 1.0 or jitters < 0:
            raise ValueError("upsample >= 0, 0 < top_fraction <= 1 and jitters >= 0 are required")
        dlib = _import_dlib()
        models = Path(models_dir) if models_dir else face_models_dir()
        try:
            self._detector = dlib.get_frontal_face_detector()
            self._shape = dlib.shape_predictor(str(models / SHAPE_MODEL))
            self._describe = dlib.face_recognition_model_v1(str(models / DESCRIPTOR_MODEL))
        except RuntimeError as exc:
            raise FaceModelError(f"cannot load the dlib face models from {models}: {exc}") from exc
        self._dlib = dlib
        self.upsample, self.min_score, self.max_side = upsample, min_score, max_side
        self.top_fraction, self.jitters = top_fraction, jitters

    def detect(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Faces in a BGR (or grey) patch: [(box (x0, y0, x1, y1) in the patch's pixels, HOG score)], best
        first (largest, then highest score)."""
        rgb, scale = self._prepare(image)
        if rgb is None:
            return []
        dets, scores, _ = self._detector.run(rgb, self.upsample, self.min_score)
        faces = []
        for d, s in zip(dets, scores, strict=True):
            box = tuple(int(round(v / scale)) for v in (d.left(), d.top(), d.right(), d.bottom()))
            faces.append((box, float(s)))
        return sorted(faces, key=lambda f: (-(f[0][2] - f[0][0]), -f[1]))

    def embed(self, image: np.ndarray) -> Face | None:
        """The patch's main face (the largest one: a bystander's at the edge is smaller or cut off) with its
        unit descriptor; None when no face is found."""
        rgb, scale = self._prepare(image)
        if rgb is None:
            return None
        dets, scores, _ = self._detector.run(rgb, self.upsample, self.min_score)
        if not len(dets):
            return None
        best = max(range(len(dets)), key=lambda i: (dets[i].width(), scores[i]))
        rect, score = dets[best], float(scores[best])
        shape = self._shape(rgb, rect)
        vec = np.asarray(self._describe.compute_face_descriptor(rgb, shape, self.jitters), dtype=np.float32)
        vec /= max(float(np.linalg.norm(vec)), 1e-9)
        box = tuple(int(round(v / scale)) for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
        size = float(max(1, box[2] - box[0]))
        quality = float(min(1.0, size / HOG_WINDOW_PX) / (1.0 + np.exp(-2.0 * score)))
        return Face(vec, box, score, size, quality)

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray | None, float]:
        """(the contiguous RGB search region, the scale applied) or (None, 1) for an unusable patch."""
        if image is None or image.ndim not in (2, 3) or min(image.shape[:2]) < 8:
            return None, 1.0
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        image = image[: max(8, int(round(image.shape[0] * self.top_fraction)))]
        image, scale = resize_longest(image, self.max_side) if self.max_side else (image, 1.0)
        return np.ascontiguousarray(image[..., 2::-1]), scale


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two unit descriptors (same person below about UNIT_SAME_PERSON_DISTANCE)."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))
