"""`merge-ros bench identity`: how well persistent identity holds, on real footage and on synthetic scenes.

Figures:
- GROUND person crops (--scenes ROOT: every folder below ROOT with person_crops/index.json is a scene): each
  crop, in time order, is one observation of an actor (the whole crop as its box, its stamp as time, no tracker
  ID) fed to the gallery perception_node uses.
  unregistered: the gallery starts empty; per scene the IDs it created against the true persons, and the
  observations given an ID whose majority person is another one. registered: the first crop of each true person
  is registered under the true ID, every other crop is assigned; the share given the right ID.
  Overall: id_count_errors (sum of |IDs created - true persons|), unregistered_errors, registered_accuracy, scenes.
  --fit: every data-chosen person setting chosen on all the scenes (choose_settings: the face and colour
  calibrations, same-person LLRs of merge_ros.perception.person_cues, fitted; min_framing_quality,
  person_blur_ratio and person_new_llr by a grid search): how IdentityConfig's person defaults were made.
  --cross-validate: leave one scene out: those settings are chosen again on the other scenes only, and the held-out
  scene is scored with them; the figures are the held-out ones, summed over the folds. The settings that are
  priors (the caps, person_learn_llr, person_switch_llr) are not tuned.
- --synthetic: ID switches on synthetic scenes (merge_ros.synth) fed through the annotations detector with
  scrambled raw track IDs (a new one after every gap: raw_track_changes counts them); a switch is an entity given
  another ID than the last time it was seen. id_accuracy is the share of entity-frames whose ID is the true one
  (all instances are registered; identical-looking ones, such as two oranges, can only be told apart by where
  they are once seen, so their first assignment may swap them without any later switch).
- --timing: identity_ms, the steady-state cost of one assign() with 10 actors and 40 objects tracked, averaged
  over a whole re-embedding period (target < 5), with its 95th percentile and maximum (frames that re-embed).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from merge_ros.perception.detection import Detection
from merge_ros.perception.embedding import Embedder
from merge_ros.perception.identity import IdentityConfig, IdentityGallery, register_scene
from merge_ros.perception.person_cues import Calibration, PersonCues, PersonFeatures, PersonView
from merge_ros.types import Box, EntityKind, Keypoint, seconds_to_ns

log = logging.getLogger(__name__)

CROPS_INDEX = Path("person_crops") / "index.json"
SYNTHETIC_CASES = (("sorting", 2, False), ("handover", 2, True))
TARGET_IDENTITY_MS = 5.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("identity", help="persistent identity on GROUND person crops, ID switches, cost",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=Path, help="folder of GROUND-format scenes with person_crops/")
    p.add_argument("--synthetic", action="store_true", help="also count ID switches on synthetic scenes")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the synthetic scenes")
    p.add_argument("--fit", action="store_true", help="fit the person calibrations on all scenes and print them")
    p.add_argument("--cross-validate", action="store_true",
                   help="leave-one-scene-out figures, with every data-chosen setting chosen on the other scenes")
    p.add_argument("--timing", action="store_true", help="also measure identity_ms (10 actors + 40 objects)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ GROUND person crops


@dataclass(frozen=True)
class CropObservation:
    stamp: float
    person_id: str
    path: Path


class CropIndexError(ValueError):
    """A person_crops/index.json that cannot be read; the text names the file."""


def crop_scenes(root: Path) -> list[Path]:
    """The scene folders below root that hold person crops, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    return sorted(p.parent.parent for p in root.glob(f"*/{CROPS_INDEX}"))


def load_crops(scene: Path) -> tuple[list[CropObservation], int]:
    """(the scene's crops with an image, in time order; records skipped because their image is missing)."""
    index = Path(scene) / CROPS_INDEX
    try:
        records = json.loads(index.read_text())
        if not isinstance(records, list):
            raise TypeError("not a list of records")
        out, missing = [], 0
        for r in records:
            if not isinstance(r, dict) or not r.get("image"):
                continue  # perception records that did not trigger carry no crop
            path = index.parent / str(r["image"])
            if not path.is_file():
                missing += 1
                continue
            out.append(CropObservation(float(r["stamp"]), str(r["person_id"]), path))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CropIndexError(f"{index}: {exc}") from exc
    return sorted(out, key=lambda o: o.stamp), missing


def _observe(gallery: IdentityGallery, image: np.ndarray, stamp: float) -> str:
    h, w = image.shape[:2]
    det = Detection(EntityKind.PERSON, "person", Box(0.0, 0.0, float(w), float(h)))
    return gallery.assign(image, [det], seconds_to_ns(stamp))[0].id


def evaluate_crop_scene(crops: Sequence[CropObservation], images: Sequence[np.ndarray],
                        config: IdentityConfig | None = None, embedder: Embedder | None = None,
                        features: Callable[[np.ndarray, bool], PersonView] | None = None) -> dict:
    """Both protocols of the module docstring on one scene's crops (with their decoded images)."""
    persons = sorted({c.person_id for c in crops})
    gallery = IdentityGallery(config, embedder, features)
    assigned = [(_observe(gallery, img, c.stamp), c.person_id) for c, img in zip(crops, images, strict=True)]
    majority = {ident: votes.most_common(1)[0][0] for ident, votes in _votes(assigned).items()}
    ids_created = len(majority)

    gallery = IdentityGallery(config, embedder, features)
    first: dict[str, int] = {}
    for i, c in enumerate(crops):
        first.setdefault(c.person_id, i)
    for person, i in first.items():
        gallery.register(person, EntityKind.PERSON, "person", images[i])
    later = [i for i in range(len(crops)) if i not in first.values()]
    correct = sum(_observe(gallery, images[i], crops[i].stamp) == crops[i].person_id for i in later)
    return {"observations": len(crops), "true_persons": len(persons), "ids_created": ids_created,
            "id_count_error": abs(ids_created - len(persons)),
            "unregistered_errors": sum(1 for ident, person in assigned if majority[ident] != person),
            "registered_correct": correct, "registered_total": len(later),
            "registered_accuracy": correct / len(later) if later else 1.0}


def _votes(assigned: Iterable[tuple[str, str]]) -> dict[str, Counter]:
    votes: dict[str, Counter] = defaultdict(Counter)
    for ident, person in assigned:
        votes[ident][person] += 1
    return votes


@dataclass
class CropScene:
    name: str
    crops: list[CropObservation]
    images: list[np.ndarray]


def load_crop_scenes(root: Path) -> tuple[list[CropScene], int, int]:
    """(every scene below root with its decoded crops, scenes skipped, crops skipped); unreadable scenes and
    crops are logged, counted and skipped."""
    scenes, skipped_scenes, skipped_crops = [], 0, 0
    for scene in crop_scenes(root):
        try:
            crops, missing = load_crops(scene)
        except CropIndexError as exc:
            log.warning("scene skipped: %s", exc)
            skipped_scenes += 1
            continue
        images, kept = [], []
        for c in crops:
            image = cv2.imread(str(c.path), cv2.IMREAD_COLOR)
            if image is None or not image.size:
                log.warning("%s: unreadable crop, skipped", c.path)
                missing += 1
                continue
            images.append(image)
            kept.append(c)
        skipped_crops += missing
        if kept:
            scenes.append(CropScene(scene.name, kept, images))
    return scenes, skipped_scenes, skipped_crops


def summarise(per_scene: dict[str, dict]) -> dict:
    """The overall figures of per-scene ones."""
    total = sum(s["registered_total"] for s in per_scene.values())
    return {"scenes": len(per_scene),
            "id_count_errors": sum(s["id_count_error"] for s in per_scene.values()),
            "unregistered_errors": sum(s["unregistered_errors"] for s in per_scene.values()),
            "registered_accuracy": (sum(s["registered_correct"] for s in per_scene.values()) / total
                                    if total else 1.0),
            "observations": sum(s["observations"] for s in per_scene.values()), "per_scene": per_scene}


def evaluate_person_crops(root: Path, config: IdentityConfig | None = None,
                          embedder: Embedder | None = None) -> dict:
    """Per-scene and overall figures (module docstring) for every scene below root."""
    scenes, skipped_scenes, skipped_crops = load_crop_scenes(root)
    features = _MemoFeatures(PersonFeatures(faces=(config or IdentityConfig()).person_faces))
    per_scene = {s.name: evaluate_crop_scene(s.crops, s.images, config, embedder, features) for s in scenes}
    return {**summarise(per_scene), "skipped_scenes": skipped_scenes, "skipped_crops": skipped_crops}


# --------------------------------------------------------------------------- fitting and cross-validation


def calibration_pairs(scenes: Sequence[CropScene], config: IdentityConfig,
                      features: Callable[[np.ndarray, bool], PersonView]) -> dict[str, tuple[list, list]]:
    """Labelled similarities as the gallery meets them: each crop, in time order, against every person of its
    scene already seen in a good view (the best over that person's good views so far), per cue:
    {"face": (same, different), "colour": (same, different)}. A face pair needs a face on both sides."""
    out: dict[str, tuple[list, list]] = {"face": ([], []), "colour": ([], [])}
    for scene in scenes:
        cues = PersonCues(Calibration(1.0, 0.0, 1.0), Calibration(1.0, 0.0, 1.0), config.min_framing_quality,
                          config.person_blur_ratio, features)
        good: dict[str, list[PersonView]] = defaultdict(list)
        for crop, image in zip(scene.crops, scene.images, strict=True):
            view = cues.describe(image, with_face=True)
            for person, views in good.items():
                label = 0 if person == crop.person_id else 1
                out["colour"][label].append(float(max(v.colour @ view.colour for v in views)))
                faces = [v.face for v in views if v.face is not None]
                if view.face is not None and faces:
                    out["face"][label].append(float(np.max(np.stack(faces) @ view.face)))
            if cues.good(view):
                good[crop.person_id].append(view)
    return out


def fit_calibrations(scenes: Sequence[CropScene], config: IdentityConfig,
                     features: Callable[[np.ndarray, bool], PersonView]) -> IdentityConfig:
    """config with the person calibrations fitted on the scenes (the caps are kept: they are priors)."""
    pairs = calibration_pairs(scenes, config, features)
    face = Calibration.fit(*pairs["face"], cap=config.person_face_cap)
    colour = Calibration.fit(*pairs["colour"], cap=config.person_colour_cap)
    return dataclasses.replace(config, person_face_scale=face.scale, person_face_zero=face.zero,
                               person_colour_scale=colour.scale, person_colour_zero=colour.zero)


# The settings chosen by looking at data, re-chosen on each fold's training scenes; ties go to the first (the
# default) of each grid.
FRAMING_GRID = (0.62, 0.58, 0.66)
BLUR_GRID = (0.25, 0.0)
NEW_LLR_GRID = (-1.0, -2.3)


def _errors(per_scene: dict[str, dict]) -> tuple[int, int]:
    """What the grid search minimises: ID-count errors first, then wrongly assigned crops of both protocols."""
    return (sum(s["id_count_error"] for s in per_scene.values()),
            sum(s["unregistered_errors"] + s["registered_total"] - s["registered_correct"] for s in per_scene.values()))


CHOSEN = ("min_framing_quality", "person_blur_ratio", "person_new_llr", "person_face_scale", "person_face_zero",
          "person_colour_scale", "person_colour_zero")


def choose_settings(scenes: Sequence[CropScene], config: IdentityConfig,
                    features: Callable[[np.ndarray, bool], PersonView]) -> IdentityConfig:
    """config with every data-chosen person setting chosen on the scenes: for each point of the threshold grid
    the calibrations are fitted (they depend on which views count as good), and the point with the fewest errors
    on the scenes wins. `--fit` on the development scenes gave IdentityConfig's defaults."""
    best = None
    for framing in FRAMING_GRID:
        for blur in BLUR_GRID:
            fitted = fit_calibrations(scenes, dataclasses.replace(
                config, min_framing_quality=framing, person_blur_ratio=blur), features)
            for new in NEW_LLR_GRID:
                candidate = dataclasses.replace(fitted, person_new_llr=new)
                errors = _errors({s.name: evaluate_crop_scene(s.crops, s.images, candidate, features=features)
                                  for s in scenes})
                if best is None or errors < best[0]:
                    best = (errors, candidate)
    return best[1]


def cross_validate(scenes: Sequence[CropScene], config: IdentityConfig | None = None,
                   features: Callable[[np.ndarray, bool], PersonView] | None = None) -> dict:
    """Leave-one-scene-out figures (module docstring), with the settings each fold chose."""
    base = config or IdentityConfig()
    features = features or _MemoFeatures(PersonFeatures(faces=base.person_faces))
    held_out, chosen = {}, {}
    for scene in scenes:
        fold = choose_settings([s for s in scenes if s is not scene], base, features)
        chosen[scene.name] = {k: round(getattr(fold, k), 4) for k in CHOSEN}
        held_out[scene.name] = evaluate_crop_scene(scene.crops, scene.images, fold, features=features)
    return {**summarise(held_out), "chosen": chosen}


class _MemoFeatures:
    """Computes each distinct image's person cues once (the face is the costly part): both protocols, every
    fold and every grid point see the same crops."""

    def __init__(self, inner: Callable[[np.ndarray, bool], PersonView]):
        self.inner = inner
        self._memo: dict[tuple[bytes, bool], PersonView] = {}

    def __call__(self, image: np.ndarray, with_face: bool) -> PersonView:
        key = (_image_key(image), with_face)
        if key not in self._memo:
            self._memo[key] = self.inner(image, with_face)
        return self._memo[key]


def _image_key(image: np.ndarray) -> bytes:
    return hashlib.blake2b(str(image.shape).encode() + np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


class _MemoEmbedder:
    """Embeds each distinct image once: both protocols see the same crops."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.dim = inner.dim
        self._memo: dict[bytes, np.ndarray] = {}

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        keys = [_image_key(im) for im in images]
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        if todo:
            for i, vec in zip(todo, self.inner.embed([images[i] for i in todo]), strict=True):
                self._memo[keys[i]] = vec
        return np.stack([self._memo[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)


def _default_embedder() -> Embedder:
    from merge_ros.perception.embedding import MobileNetV2Embedder

    return MobileNetV2Embedder()


# -------------------------------------------------------------------------------------- synthetic ID switches


def count_id_switches(observations: Iterable[tuple[str, str]]) -> int:
    """(true ID, assigned ID) pairs in time order: how often an instance got another ID than when last seen."""
    last: dict[str, str] = {}
    switches = 0
    for true_id, assigned in observations:
        if true_id in last and last[true_id] != assigned:
            switches += 1
        last[true_id] = assigned
    return switches


def run_annotated_scene(scene_dir: Path, config: IdentityConfig | None = None,
                        embedder: Embedder | None = None) -> dict:
    """Identity on a synthetic scene: frames read with OpenCV, detections from its annotations with scrambled
    raw track IDs and no hint, the scene's reference images registered. Returns the switch figures."""
    from merge_ros.io.scene_folder import SceneFolder
    from merge_ros.perception.annotations_detector import AnnotationsConfig, AnnotationsDetector

    scene = SceneFolder.open(scene_dir)
    # hint_ids only to know the truth here; the hints are stripped before identity sees the detections.
    detector = AnnotationsDetector(AnnotationsConfig(str(scene.annotations_path), hint_ids=True,
                                                     scramble_track_ids=True))
    config = dataclasses.replace(config or IdentityConfig(), use_hint_ids=False)
    gallery = IdentityGallery(config, embedder)
    registered = register_scene(gallery, scene)
    pairs, raw, unreadable = [], [], 0
    for stamp, path in scene.frames():
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            unreadable += 1
            continue
        stamp_ns = seconds_to_ns(stamp)
        detections = detector.detect(frame, stamp_ns)
        truth = [d.hint_id for d in detections]
        entities = gallery.assign(frame, [dataclasses.replace(d, hint_id="") for d in detections], stamp_ns)
        pairs.extend(zip(truth, (e.id for e in entities), strict=True))
        raw.extend((t, str(d.track_id)) for t, d in zip(truth, detections, strict=True))
    return {"scene": scene.name, "registered": registered, "entity_frames": len(pairs),
            "raw_track_changes": count_id_switches(raw), "id_switches": count_id_switches(pairs),
            "id_accuracy": sum(t == a for t, a in pairs) / len(pairs) if pairs else 1.0,
            "unreadable_frames": unreadable}


def synthetic_switches(seeds: Sequence[int] = (0,), cases=SYNTHETIC_CASES, duration_s: float = 30.0,
                       embedder: Embedder | None = None, workdir: Path | None = None) -> dict:
    """ID switches over generated scenes (one per case and seed)."""
    from merge_ros.synth import generate_scene

    embedder = embedder or _default_embedder()
    results = []
    with tempfile.TemporaryDirectory(prefix="merge_identity_") as tmp:
        base = Path(workdir or tmp)
        for scenario, persons, robot in cases:
            for seed in seeds:
                out = base / f"{scenario}_{persons}p{'_robot' if robot else ''}_{seed}"
                generate_scene(out, scenario=scenario, persons=persons, robot=robot, seed=seed,
                               duration_s=duration_s, overwrite=True)
                results.append(run_annotated_scene(out, embedder=embedder))
    frames = sum(r["entity_frames"] for r in results)
    return {"id_switches": sum(r["id_switches"] for r in results),
            "id_accuracy": (sum(r["id_accuracy"] * r["entity_frames"] for r in results) / frames if frames
                            else 1.0),
            "synthetic_scenes": results}


# --------------------------------------------------------------------------------------------------- the cost


def identity_frame_ms(n_actors: int = 10, n_objects: int = 40, frames: int = 50, seed: int = 0, fps: float = 10.0,
                      embedder: Embedder | None = None, config: IdentityConfig | None = None,
                      person_features: Callable[[np.ndarray, bool], PersonView] | None = None) -> list[float]:
    """assign() time of each measured frame, in ms, in steady state: every instance registered and tracked (live
    track IDs, boxes jittering), after the first frame (which embeds every new track) and after the first wave of
    periodic re-embeddings, over at least one whole refresh period, so that each track is re-embedded exactly
    once in the measured frames, as in any long run (IdentityConfig.refresh_interval_s and
    max_verifications_per_frame)."""
    rng = np.random.default_rng(seed)
    width, height = 1280, 720
    frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    instances = []
    for i in range(n_actors + n_objects):
        kind = EntityKind.OBJECT if i >= n_actors else (EntityKind.ROBOT if i % 5 == 4 else EntityKind.PERSON)
        bw, bh = (rng.uniform(80, 160), rng.uniform(180, 320)) if kind.is_actor else (rng.uniform(20, 60),) * 2
        x, y = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
        box = Box(x, y, x + bw, y + bh)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(frame, (int(x) + 3, int(y) + 3), (int(x + bw) - 3, int(y + bh) - 3), colour, -1)
        instances.append((f"{kind.name.lower()}_{i}", kind, box))
    config = config or IdentityConfig()
    gallery = IdentityGallery(config, embedder, person_features)
    for ident, kind, box in instances:
        x0, y0, x1, y1 = (int(v) for v in box.as_list())
        gallery.register(ident, kind, kind.name.lower(), frame[y0:y1, x0:x1])
    period = int(np.ceil(config.refresh_interval_s * fps))
    wave = int(np.ceil(len(instances) / max(1, config.max_verifications_per_frame)))
    skipped = 1 + period + wave if config.max_verifications_per_frame > 0 else 1
    times = []
    for f in range(skipped + max(frames, period)):
        detections = []
        for track, (_, kind, box) in enumerate(instances, 1):
            dx, dy = rng.normal(0, 1.5, 2)
            b = Box(box.x_min + dx, box.y_min + dy, box.x_max + dx, box.y_max + dy)
            kps = [Keypoint("left_wrist", b.x_min, b.center[1]), Keypoint("right_wrist", b.x_max, b.center[1])]
            detections.append(Detection(kind, kind.name.lower(), b, 0.9, kps if kind.is_actor else [],
                                        track_id=track))
        t0 = time.perf_counter()
        gallery.assign(frame, detections, seconds_to_ns(1.0 + f / fps))
        if f >= skipped:
            times.append(1000.0 * (time.perf_counter() - t0))
    return times


def measure_identity_ms(n_actors: int = 10, n_objects: int = 40, frames: int = 50, seed: int = 0,
                        embedder: Embedder | None = None, config: IdentityConfig | None = None) -> float:
    """Mean assign() time per frame in steady state (identity_frame_ms): the identity_ms figure."""
    return float(np.mean(identity_frame_ms(n_actors, n_objects, frames, seed, embedder=embedder, config=config)))


# ------------------------------------------------------------------------------------------------ the command


def _print_crop_figures(title: str, crops: dict) -> None:
    print(f"{title}, {crops['scenes']} scenes, {crops['observations']} crops:")
    for name, s in crops["per_scene"].items():
        print(f"  {name}: IDs created {s['ids_created']} for {s['true_persons']} persons, "
              f"unregistered errors {s['unregistered_errors']}, registered accuracy "
              f"{s['registered_accuracy']:.3f} ({s['registered_correct']}/{s['registered_total']})")
    print(f"  id_count_errors {crops['id_count_errors']} (target 0), unregistered_errors "
          f"{crops['unregistered_errors']}, registered_accuracy {crops['registered_accuracy']:.3f} "
          f"(target >= 0.95)")


def run(args: argparse.Namespace) -> int:
    if args.scenes is None and not args.synthetic and not args.timing:
        raise SystemExit("merge-ros bench identity: give --scenes ROOT, --synthetic and/or --timing")
    figures: dict = {}
    if args.scenes is not None:
        if not args.scenes.is_dir():
            raise SystemExit(f"merge-ros bench identity: --scenes {args.scenes} is not a folder")
        config = IdentityConfig()
        scenes, skipped_scenes, skipped_crops = load_crop_scenes(args.scenes)
        features = _MemoFeatures(PersonFeatures(faces=config.person_faces))
        crops = summarise({s.name: evaluate_crop_scene(s.crops, s.images, config, features=features)
                           for s in scenes})
        figures.update(crops, skipped_scenes=skipped_scenes, skipped_crops=skipped_crops)
        _print_crop_figures("GROUND person crops, default IdentityConfig", crops)
        if args.fit:
            figures["fitted"] = {k: getattr(choose_settings(scenes, config, features), k) for k in CHOSEN}
            print("  settings chosen on all scenes: " + ", ".join(f"{k} {v:.4g}" for k, v in figures["fitted"].items()))
        if args.cross_validate:
            held_out = cross_validate(scenes, config, features)
            figures["cross_validated"] = held_out
            _print_crop_figures("leave-one-scene-out (settings and calibrations chosen on the other scenes)",
                                held_out)
            for name, chosen in held_out["chosen"].items():
                print(f"  fold {name}: " + ", ".join(f"{k} {v:g}" for k, v in chosen.items()))
    if args.synthetic or args.timing:
        embedder = _default_embedder()
    if args.synthetic:
        synth = synthetic_switches(args.seeds, embedder=embedder)
        figures.update(synth)
        for r in synth["synthetic_scenes"]:
            print(f"  synthetic {r['scene']}: {r['id_switches']} ID switches over {r['entity_frames']} "
                  f"entity-frames, ID accuracy {r['id_accuracy']:.3f}")
        print(f"  id_switches {synth['id_switches']} (target 0), id_accuracy {synth['id_accuracy']:.3f}")
    if args.timing:
        times = identity_frame_ms(embedder=embedder)
        figures.update(identity_ms=float(np.mean(times)), identity_p95_ms=float(np.percentile(times, 95)),
                       identity_max_ms=float(np.max(times)), target_identity_ms=TARGET_IDENTITY_MS)
        print(f"  identity_ms {figures['identity_ms']:.2f} per frame with 10 actors + 40 objects tracked "
              f"(target < {TARGET_IDENTITY_MS}); p95 {figures['identity_p95_ms']:.2f}, max "
              f"{figures['identity_max_ms']:.2f} (a frame that re-checks a track)")
    if args.json:
        print(json.dumps(figures))
    return 0
