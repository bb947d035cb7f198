"""Persistent identity above the tracker: a gallery of known instances matched by appearance, class, position
and time, so that an actor or object that is occluded, leaves or returns keeps its ID.

Each kind is told apart by what actually distinguishes it:
- persons by their face where one is visible, else by the colours they wear (merge_ros.perception.person_cues:
  calibrated same-person log-likelihood ratios, LLR), plus where they were;
- objects by appearance (merge_ros.perception.embedding) and, among look-alikes that no appearance tells apart,
  by where each one can be: objects do not move by themselves (merge_ros.perception.whereabouts);
- robots by appearance and where they were.
Registered reference images that were cut from this camera's own view (most of them match the first frame
near-identically) bind each instance to where it was cut: among the instances not seen yet, the pixels around a
detection (table, neighbours, light) decide before appearance, which look-alikes share.

Per frame (IdentityGallery.assign):
1. hint IDs (config.use_hint_ids): a detection that carries the source's own instance ID keeps it;
2. live tracks: a tracker ID already bound to a persistent ID keeps it without re-identification (the cheap
   path). A bounded number of tracked detections per frame are re-checked: first those in doubt (their box
   started or stopped overlapping another of their kind, where trackers swap IDs), then the longest unchecked.
   One that no longer matches its identity but clearly matches another (in a view that overlaps no other of
   its kind, which would mix the two) is released to step 3;
3. the rest (new tracks, no tracker, released ones) of each kind are matched to the free identities of that kind
   by one Hungarian assignment (scipy's linear_sum_assignment), actors first (so that objects can use where this
   frame's hands are), each row also offered "someone new" at the kind's threshold. Two detections of one frame
   never share an ID;
4. "someone else" is, in this order: a registered instance not seen yet (a scene's reference images name its
   cast: the unmatched take them by one assignment on their scores), or one seen before if alike enough; the
   most alike free identity of the kind if the observation is a poor view (badly framed, blurred, mostly hidden,
   or less alike to every identity than different instances are), which must not found an identity; otherwise a
   new ID person_N / robot_N / object_N (skipping registered stems).

Each identity keeps its registered views plus up to gallery_size observed ones, learnt only from confident,
good, non-overlapped views, so an instance seen from several sides is recognised from each.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from merge_ros.box_arrays import box_iou_matrix, boxes_array
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.params import check_fields, param
from merge_ros.perception.detection import Detection
from merge_ros.perception.embedding import Embedder, framing_quality
from merge_ros.perception.person_cues import Calibration, PersonCues, PersonFeatures, PersonView
from merge_ros.perception.whereabouts import Hand, Whereabouts
from merge_ros.types import KIND_NAMES, NS_PER_S, Box, Entity, EntityKind

log = logging.getLogger(__name__)

# Labels that say nothing beyond the kind; they never conflict with a detector's class name.
GENERIC_LABELS = frozenset({"", *KIND_NAMES.values()})
_INFEASIBLE = 1e6
_MIN_PATCH_PX = 4
# Keypoints of an actor that count as hands for the whereabouts of objects (the change detector's default score).
_MIN_HAND_SCORE = 0.3
_LN10 = 2.302585  # ln 10: odds of ten to one


@dataclass
class IdentityConfig:
    """Thresholds of the identity gallery (each field is the perception_node parameter identity.<field>).

    Objects and robots: similarities are cosine similarities of appearance embeddings; the defaults were chosen on
    the synthetic scenes. Persons: scores are same-person LLRs (natural log). The two calibrations,
    min_framing_quality, person_blur_ratio and person_new_llr were chosen on the eight GROUND development scenes'
    person crops (`merge-ros bench identity --fit`; `--cross-validate` chooses them again without the scene it
    scores); the caps and the learning and switching thresholds are priors, not fitted.
    """

    use_hint_ids: bool = param(False, "use a detection's hint_id (e.g. the annotations' true ID) as its ID")
    match_similarity: float = param(
        0.65, "objects, robots: appearance score at or above which a detection is an identity seen before", 0.0, 1.0)
    min_view_similarity: float = param(
        0.5, "objects, robots: an observation less alike than this to every identity of its kind is a poor view: "
        "it goes to the most alike free identity instead of founding a new one", 0.0, 1.0)
    update_similarity: float = param(
        0.65, "objects, robots: a match at least this alike adds the observation to the identity's gallery",
        0.0, 1.0)
    duplicate_similarity: float = param(
        0.97, "an observation this alike to one already in the gallery adds nothing and is not stored", 0.0, 1.0)
    gallery_size: int = param(16, "observed views kept per identity (besides registered ones)", 1, 1000)
    position_weight: float = param(
        1.0, "objects, robots: weight of the position term: +weight where the identity was (or can be), 0 at the "
        "edge of where it may have moved since, -weight beyond twice that", 0.0, 10.0)
    position_horizon_s: float = param(
        1.5, "seconds over which position evidence fades after a moving actor (or a hand carrying an object) was "
        "last seen", 0.001, 3600.0)
    position_speed: float = param(
        2.0, "actors: box diagonals per second one may move while unseen (widens the position term)", 0.0, 100.0)
    position_tie: float = param(
        0.3, "objects, robots: position can favour an identity only over others at most this much more alike in "
        "appearance", 0.0, 2.0)
    carry_radius: float = param(
        1.0, "objects: a hand within this many box diagonals of an object's box may be holding it (and carry it "
        "off while it is out of sight)", 0.0, 10.0)
    view_match: float = param(
        0.9, "the registered references are crops of this camera's view when a quarter of them or more match "
        "somewhere in the first frame this well (normalised cross-correlation): then the pixels around a detection "
        "decide which not-yet-seen instance it is (1 = off)", 0.0, 1.0)
    label_penalty: float = param(
        0.3, "objects, robots: score penalty when a detection's class differs from an identity's (generic labels "
        "never differ)", 0.0, 10.0)
    switch_margin: float = param(
        0.1, "objects, robots: a re-checked track leaves its identity only for another that matches and is this "
        "much more alike", 0.0, 1.0)
    track_timeout_s: float = param(
        2.0, "seconds after which an unseen tracker ID's binding to a persistent ID is forgotten", 0.0, 3600.0)
    refresh_interval_s: float = param(
        20.0, "re-check a tracked detection at least this often (0 = every frame, within the budget)", 0.0, 3600.0)
    max_verifications_per_frame: int = param(
        1, "tracked detections re-checked per frame at most (those in doubt first, then the oldest)", 0, 1000)
    doubt_iou: float = param(
        0.4, "a track whose box starts or stops overlapping another of its kind this much (IoU) is in doubt and "
        "re-checked first", 0.0, 1.0)
    min_framing_quality: float = param(
        0.62, "a detection framed worse than this (embedding.framing_quality: its box's middle hardly stands out "
        "from its border) is a poor view: it never founds a new identity while a free one of its kind exists; a "
        "person view with a face is well framed whatever this says (0 = off)", 0.0, 1.0)
    person_faces: bool = param(True, "persons: use face descriptors (dlib) where a face is visible")
    person_face_scale: float = param(
        304.4, "persons: face calibration, LLR per unit of cosine similarity of two face descriptors", 0.0, 1e4)
    person_face_zero: float = param(
        0.9213, "persons: face cosine similarity of even odds (LLR 0; dlib's published same-person limit is about "
        "0.918 on these unit descriptors)", -1.0, 1.0)
    person_face_cap: float = param(
        5.01, "persons: largest face LLR either way (ln 150: dlib's error rate on LFW is about 1:160)", 0.0, 50.0)
    person_colour_scale: float = param(
        31.3, "persons: colour calibration, LLR per unit of Bhattacharyya coefficient of two colour histograms",
        0.0, 1e4)
    person_colour_zero: float = param(
        0.8458, "persons: colour Bhattacharyya coefficient of even odds (LLR 0)", 0.0, 1.0)
    person_colour_cap: float = param(
        3.0, "persons: largest colour LLR either way (ln 20: clothes can coincide)", 0.0, 50.0)
    person_new_llr: float = param(
        -1.0, "persons: a good view is someone new when its LLR against every free identity is below this (the log "
        "prior odds of a newcomer against a known person seen anew)", -50.0, 0.0)
    person_learn_llr: float = param(
        _LN10, "persons: a good view at least this likely the same person is learnt into the identity", 0.0, 50.0)
    person_switch_llr: float = param(
        _LN10, "persons: a re-checked track leaves its identity for another that is this much likelier (and at "
        "least even odds)", 0.0, 50.0)
    person_position_llr: float = param(
        _LN10, "persons: LLR of being where the identity was last seen (fading, like position_weight)", 0.0, 50.0)
    person_blur_ratio: float = param(
        0.25, "persons: a view less sharp than this times the camera's usual one (the median of its person views) "
        "is a poor view (0 = off)", 0.0, 1.0)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class _Identity:
    id: str
    kind: EntityKind
    label: str
    registered: bool = False
    anchors: list[Any] = field(default_factory=list)  # registered views (embeddings, or PersonViews)
    samples: deque = field(default_factory=deque)  # learnt views
    reference_images: list[np.ndarray] = field(default_factory=list)  # kept until first seen, for view matching
    first_seen_ns: int | None = None
    last_seen_ns: int | None = None
    last_box: Box | None = None
    last_frame_shape: tuple[int, ...] = ()
    velocity: tuple[float, float] = (0.0, 0.0)  # of the box centre, pixels per second

    def views(self) -> list[Any]:
        return [*self.anchors, *self.samples]


@dataclass
class _Binding:
    identity: str
    last_seen_ns: int
    verified_ns: int
    overlapping: bool = False  # its box overlapped another of its kind when last seen
    doubt: bool = False        # that changed since its last verification: where trackers swap IDs


@dataclass
class _Observation:
    """One detection while its ID is decided; `ident` empty until it has one."""

    det: Detection
    ident: str = ""
    view: Any = None  # an embedding (objects, robots) or a PersonView
    patch: np.ndarray | None = None
    learn: bool = False
    overlapping: bool = False

    @property
    def kind(self) -> EntityKind:
        return EntityKind(self.det.kind)


class IdentityGallery:
    """Assigns persistent IDs to a frame's detections (see the module docstring)."""

    def __init__(self, config: IdentityConfig | None = None, embedder: Embedder | None = None,
                 person_features: Callable[[np.ndarray, bool], PersonView] | None = None):
        """embedder: objects' and robots' appearance (MobileNetV2 when None); person_features: persons' cues
        (merge_ros.perception.person_cues.PersonFeatures when None; a benchmark passes a caching one)."""
        self.config = cfg = config or IdentityConfig()
        self._embedder = embedder
        self.persons = PersonCues(
            Calibration(cfg.person_face_scale, cfg.person_face_zero, cfg.person_face_cap),
            Calibration(cfg.person_colour_scale, cfg.person_colour_zero, cfg.person_colour_cap),
            cfg.min_framing_quality, cfg.person_blur_ratio, person_features or PersonFeatures(faces=cfg.person_faces))
        self.whereabouts = Whereabouts(cfg.carry_radius, cfg.position_horizon_s)
        self._identities: dict[str, _Identity] = {}
        self._bindings: dict[tuple[EntityKind, int], _Binding] = {}
        self._track_of: dict[str, tuple[EntityKind, int]] = {}  # identity -> the one live track bound to it
        self._counters = {kind: 0 for kind in EntityKind}
        self._view_crops: bool | None = None  # whether the references are crops of this view (first frame)
        self.embeddings_computed = 0

    @property
    def embedder(self) -> Embedder:
        """Built on first use, so that a gallery fed only hint IDs never loads torch."""
        if self._embedder is None:
            from merge_ros.perception.embedding import MobileNetV2Embedder

            self._embedder = MobileNetV2Embedder()
        return self._embedder

    def ids(self, kind: EntityKind | None = None) -> list[str]:
        return [i.id for i in self._identities.values() if kind is None or i.kind == kind]

    def reference_count(self, instance_id: str) -> int:
        """How many distinct registered reference views the instance has (0 if it is unknown)."""
        ident = self._identities.get(instance_id)
        return len(ident.anchors) if ident is not None else 0

    # -- registration ------------------------------------------------------------------------------------------

    def register(self, instance_id: str, kind: EntityKind, label: str, image: np.ndarray) -> None:
        """Add a known instance (or another reference view of it) from an image showing it alone."""
        if image is None or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
            raise ValueError(f"{instance_id}: reference image is empty or not an image")
        kind = EntityKind(kind)
        ident = self._identities.get(instance_id)
        if ident is None:
            ident = self._new_identity(instance_id, kind, label)
        elif ident.kind != kind:
            raise ValueError(f"{instance_id} is already registered as a {ident.kind.name}, not a {kind.name}")
        ident.registered = True
        view = self._describe(kind, [image], with_face=True)[0]
        if not ident.anchors or not self._duplicate(kind, view, ident.anchors):
            ident.anchors.append(view)  # the same reference registered again (a re-sent registry) adds nothing
            if ident.last_seen_ns is None:
                ident.reference_images.append(image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))

    # -- per frame ---------------------------------------------------------------------------------------------

    def assign(self, frame: np.ndarray, detections: list[Detection], stamp_ns: int) -> list[Entity]:
        """Entities with persistent IDs for the frame's detections, in the same order."""
        self._forget_old_tracks(stamp_ns)
        obs = [_Observation(d) for d in detections]
        for o, overlapping in zip(obs, _overlapping(detections, self.config.doubt_iou), strict=True):
            o.overlapping = bool(overlapping)
        shape = tuple(frame.shape[:2]) if frame is not None else ()
        taken: set[str] = set()
        if self.config.use_hint_ids:
            self._take_hints(obs, taken)
        self._check_view_crops(frame)
        self._keep_tracks(frame, obs, taken, stamp_ns)
        actors = [o for o in obs if o.kind.is_actor]
        self._match_rest(frame, actors, taken, stamp_ns, shape)
        self.whereabouts.see_hands(stamp_ns, _hands(actors))  # objects are placed relative to this frame's hands
        self._match_rest(frame, [o for o in obs if not o.kind.is_actor], taken, stamp_ns, shape)
        entities = [self._commit(o, stamp_ns, shape) for o in obs]
        self.whereabouts.observe(stamp_ns, shape, {e.id: e.box for e in entities if e.kind == EntityKind.OBJECT})
        return entities

    def _take_hints(self, obs: list[_Observation], taken: set[str]) -> None:
        for o in obs:
            hint = o.det.hint_id
            if not hint or hint in taken:
                continue
            known = self._identities.get(hint)
            if known is not None and known.kind != o.kind:
                log.warning("hint ID %s is a %s, detection is a %s: ignored", hint, known.kind.name, o.kind.name)
                continue
            if known is None:
                self._new_identity(hint, o.kind, o.det.label)
            o.ident = hint
            taken.add(hint)

    def _keep_tracks(self, frame: np.ndarray, obs: list[_Observation], taken: set[str], stamp_ns: int) -> None:
        tracked = []
        for o in obs:
            binding = self._bindings.get(self._track_key(o.det))
            if o.ident or binding is None or binding.identity in taken:
                continue
            o.ident = binding.identity
            taken.add(o.ident)
            if o.overlapping != binding.overlapping:
                binding.overlapping = o.overlapping
                binding.doubt = True
            tracked.append((o, binding))
        for o, binding in self._to_verify(tracked, stamp_ns):
            in_doubt = binding.doubt
            binding.verified_ns = stamp_ns
            binding.doubt = False
            o.patch = _patch(frame, o.det.box)
            if o.patch is None:
                continue
            o.view = self._describe(o.kind, [o.patch], with_face=in_doubt)[0]
            own, rival = self._own_and_rival(o)
            # A view overlapping another of its kind mixes the two: the check is made when the overlap ends.
            if not o.overlapping and self._switches(o.kind, own, rival):
                # Looks like someone else now (a tracker swap): decided afresh, with the other detections.
                taken.discard(o.ident)
                o.ident = ""
                continue
            o.learn = self._learns(o, own)

    def _to_verify(self, tracked: list, stamp_ns: int) -> list:
        """The tracked detections to re-check this frame: those in doubt first, then the longest unchecked."""
        budget = self.config.max_verifications_per_frame
        if budget <= 0 or not tracked:
            return []
        interval = self.config.refresh_interval_s * NS_PER_S
        due = [(not b.doubt, b.verified_ns, i) for i, (_, b) in enumerate(tracked)
               if b.doubt or stamp_ns - b.verified_ns >= interval]
        return [tracked[i] for _, _, i in sorted(due)[:budget]]

    def _own_and_rival(self, o: _Observation) -> tuple[float, float]:
        """Appearance score of a tracked observation against its own identity and the best other of its kind."""
        own, rival = -_INFEASIBLE, -_INFEASIBLE
        for ident in self._kind_identities(o.kind):
            score = self._appearance(o, ident)
            if score is None:
                continue
            if ident.id == o.ident:
                own = score
            elif not _labels_conflict(o.det.label, ident.label):
                rival = max(rival, score)
        return own, rival

    def _switches(self, kind: EntityKind, own: float, rival: float) -> bool:
        if kind == EntityKind.PERSON:
            return rival >= 0.0 and rival >= own + self.config.person_switch_llr
        return rival >= self.config.match_similarity and rival > own + self.config.switch_margin

    def _match_rest(self, frame: np.ndarray, obs: list[_Observation], taken: set[str], stamp_ns: int,
                    shape: tuple[int, ...]) -> None:
        for kind in EntityKind:
            rest = [o for o in obs if not o.ident and o.kind == kind]
            if not rest:
                continue
            for o in rest:
                if o.patch is None:
                    o.patch = _patch(frame, o.det.box)
            todo = [o for o in rest if o.patch is not None and (o.view is None or _lacks_face(o.view))]
            for o, view in zip(todo, self._describe(kind, [o.patch for o in todo], with_face=True), strict=True):
                o.view = view
            free = [i for i in self._kind_identities(kind) if i.id not in taken]
            scores, appearance = self._scores(frame, rest, free, stamp_ns, shape)
            threshold = self._new_score(kind)
            n_rows, n_cols = scores.shape
            # One "someone new" column per row, scoring exactly the threshold: a pairing must beat it.
            new_cols = np.full((n_rows, n_rows), -_INFEASIBLE)
            np.fill_diagonal(new_cols, threshold)
            rows, cols = linear_sum_assignment(-np.hstack([scores, new_cols]))
            unmatched = []
            for r, c in zip(rows, cols, strict=True):
                if c < n_cols and scores[r, c] > threshold - 1e-12:
                    rest[r].ident = free[c].id
                    rest[r].learn = self._learns(rest[r], appearance[r, c])
                    taken.add(free[c].id)
                else:
                    unmatched.append(r)
            unmatched = self._cast(rest, unmatched, free, scores, taken)
            for r in unmatched:
                self._settle_unmatched(rest[r], free, scores[r], taken)

    def _cast(self, rest: list[_Observation], unmatched: list[int], free: list[_Identity], scores: np.ndarray,
              taken: set[str]) -> list[int]:
        """Registered instances not seen yet are expected (a scene's reference images name its cast): the
        unmatched observations take them by one assignment on their scores, however unlike the reference (a
        reference shows an instance alone, a live view shows it among others). Returns the rows still unmatched."""
        cast = [c for c, ident in enumerate(free) if ident.registered and ident.last_seen_ns is None
                and ident.id not in taken]
        if not unmatched or not cast:
            return unmatched
        sub = np.array([[scores[r, c] if not _labels_conflict(rest[r].det.label, free[c].label) else -_INFEASIBLE
                         for c in cast] for r in unmatched])
        left = set(unmatched)
        for i, j in zip(*linear_sum_assignment(-sub), strict=True):
            if sub[i, j] <= -_INFEASIBLE / 2:
                continue
            o, ident = rest[unmatched[i]], free[cast[j]]
            o.ident = ident.id
            o.learn = o.view is not None and (o.kind != EntityKind.PERSON or self._good_view(o))
            taken.add(ident.id)
            left.discard(unmatched[i])
        return [r for r in unmatched if r in left]

    def _settle_unmatched(self, o: _Observation, free: list[_Identity], scores: np.ndarray, taken: set[str]) -> None:
        open_cols = [c for c, ident in enumerate(free) if ident.id not in taken and scores[c] > -_INFEASIBLE / 2
                     and not _labels_conflict(o.det.label, ident.label)]
        floor = self._known_floor(o.kind)
        known = [c for c in open_cols if free[c].registered and scores[c] >= floor]
        if known:
            c = max(known, key=lambda c: scores[c])
            # A known instance's first observed view is learnt (a person's only if good): its reference may show
            # it quite differently.
            o.learn = free[c].last_seen_ns is None and (o.kind != EntityKind.PERSON or self._good_view(o))
        elif open_cols and not self._good_view(o):
            c = max(open_cols, key=lambda c: scores[c])
            o.learn = False
        else:
            o.ident = self._new_identity(self._next_id(o.kind), o.kind, o.det.label).id
            o.learn = o.view is not None
            taken.add(o.ident)
            return
        o.ident = free[c].id
        taken.add(o.ident)

    def _commit(self, o: _Observation, stamp_ns: int, frame_shape: tuple[int, ...]) -> Entity:
        ident = self._identities[o.ident]
        # An overlapped view mixes two instances: not learnt, unless the identity has no view at all yet.
        if o.view is not None and (o.learn and not o.overlapping or not ident.views()):
            self._learn(ident, o.view)
        if ident.label.strip().lower() in GENERIC_LABELS:
            ident.label = o.det.label  # a registered "object" learns its class from the detector
        ident.reference_images.clear()  # seen: bound to a place now
        self._track_motion(ident, o.det.box, stamp_ns, frame_shape)
        if o.det.track_id >= 0:
            key = self._track_key(o.det)
            old = self._bindings.get(key)
            if old is not None and old.identity == o.ident:
                old.last_seen_ns = stamp_ns
            else:  # a new binding, decided on this frame's view (or hint)
                if old is not None and self._track_of.get(old.identity) == key:
                    del self._track_of[old.identity]
                previous = self._track_of.get(o.ident)
                stale = self._bindings.get(previous) if previous is not None else None
                if stale is not None and stale.identity == o.ident:
                    del self._bindings[previous]  # an identity follows one live track
                self._bindings[key] = _Binding(o.ident, stamp_ns, stamp_ns, o.overlapping)
                self._track_of[o.ident] = key
        d = o.det
        return Entity(id=o.ident, kind=o.kind, label=d.label, box=d.box, confidence=d.confidence,
                      keypoints=list(d.keypoints), track_id=d.track_id,
                      track_age=(stamp_ns - ident.first_seen_ns) / NS_PER_S)

    # -- scores ------------------------------------------------------------------------------------------------

    def _scores(self, frame: np.ndarray, rest: list[_Observation], free: list[_Identity], stamp_ns: int,
                frame_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(match scores, appearance scores), rows = observations of one kind, columns = its free identities."""
        appearance = np.zeros((len(rest), len(free)))
        for r, o in enumerate(rest):
            for c, ident in enumerate(free):
                score = self._appearance(o, ident)
                appearance[r, c] = 0.0 if score is None else score
        scores = appearance.copy()
        for r, o in enumerate(rest):
            kind = o.kind
            best_look = max((appearance[r, c] for c, ident in enumerate(free)
                             if not _labels_conflict(o.det.label, ident.label)), default=0.0)
            for c, ident in enumerate(free):
                position = self._position(o.det.box, ident, stamp_ns, frame_shape)
                if kind == EntityKind.PERSON:
                    scores[r, c] += self.config.person_position_llr * position
                else:
                    # Position breaks near-ties of appearance (look-alikes) but never outweighs a clear difference
                    # of appearance or of class: it tells look-alikes apart, not a cup from a bottle.
                    conflict = _labels_conflict(o.det.label, ident.label)
                    if conflict or appearance[r, c] < best_look - self.config.position_tie:
                        position = min(position, 0.0)
                    scores[r, c] += self.config.position_weight * position
                    if conflict:
                        scores[r, c] -= self.config.label_penalty
                if self._view_crops and ident.reference_images and o.patch is not None:
                    # Not seen yet, and its reference was cut from this view: how well the pixels around the
                    # detection match it outweighs appearance, which look-alikes share.
                    scores[r, c] += self._certain(kind) * max(0.0, _view_match(frame, o.det.box,
                                                                                ident.reference_images))
        return scores, appearance

    def _check_view_crops(self, frame: np.ndarray) -> None:
        """Decide once, on the first frame, whether the registered references are crops of this camera's view: a
        quarter of them or more match somewhere in the frame near-identically (view_match). Then the pixels around
        an instance, which its reference carries, tell look-alikes apart; references from elsewhere (photos) carry
        nothing of this view, match nowhere that well, and are matched by appearance alone. Not most of them: in a
        crowded first frame arms and people hide up to half of the objects (measured on synthetic scenes: the median
        fell below 0.9 in 14 of 100 scenes, the upper quartile in none)."""
        if self._view_crops is not None or frame is None or frame.ndim != 3:
            return
        images = [i.reference_images[0] for i in self._identities.values() if i.reference_images]
        if not images:
            return
        best = [_find_reference(frame, image) for image in images]
        self._view_crops = self.config.view_match < 1.0 and float(np.quantile(best, 0.75)) >= self.config.view_match

    def _position(self, box: Box, ident: _Identity, stamp_ns: int, frame_shape: tuple[int, ...]) -> float:
        """In [-1, 1]: where the identity can be (see _motion_term and merge_ros.perception.whereabouts)."""
        if ident.kind == EntityKind.OBJECT:
            term = self.whereabouts.term(ident.id, box, stamp_ns, frame_shape)
            return 0.0 if term is None else term
        return self._motion_term(box, ident, stamp_ns) if ident.last_frame_shape == frame_shape else 0.0

    def _motion_term(self, box: Box, ident: _Identity, stamp_ns: int) -> float:
        """An actor moves by itself: between +1 (at its last box) and -1 (twice its reach away or more), 0 at its
        reach (how far it may have moved since); fading to 0 as the last sighting ages, when it could be anywhere."""
        if ident.last_box is None or ident.last_seen_ns is None:
            return 0.0
        gap_s = max(0.0, (stamp_ns - ident.last_seen_ns) / NS_PER_S)
        fade = float(np.exp(-gap_s / self.config.position_horizon_s))
        (x0, y0), (x1, y1) = box.center, ident.last_box.center
        x1, y1 = x1 + ident.velocity[0] * gap_s, y1 + ident.velocity[1] * gap_s  # where it was heading
        diag = max(np.hypot(ident.last_box.width, ident.last_box.height), np.hypot(box.width, box.height), 1.0)
        reach = diag * (1.0 + self.config.position_speed * gap_s)
        distance = min(2.0, float(np.hypot(x1 - x0, y1 - y0)) / reach)
        return fade * (1.0 - distance)

    def _appearance(self, o: _Observation, ident: _Identity) -> float | None:
        """How alike the observation looks to the identity (None: nothing to compare)."""
        views = ident.views()
        if o.view is None or not views:
            return None
        if o.kind == EntityKind.PERSON:
            return self.persons.score(o.view, views)
        return float(np.max(np.stack(views) @ o.view))

    def _new_score(self, kind: EntityKind) -> float:
        return self.config.person_new_llr if kind == EntityKind.PERSON else self.config.match_similarity

    def _known_floor(self, kind: EntityKind) -> float:
        """How alike a free registered instance must be to take an unmatched observation (rule 4)."""
        return self.config.person_new_llr if kind == EntityKind.PERSON else self.config.min_view_similarity

    def _certain(self, kind: EntityKind) -> float:
        """A score above anything appearance can give: a view match decides."""
        if kind == EntityKind.PERSON:
            return 2 * (self.config.person_face_cap + self.config.person_colour_cap + self.config.person_position_llr)
        return 2.0 + self.config.position_weight + self.config.label_penalty

    def _learns(self, o: _Observation, score: float) -> bool:
        """Whether a confident match adds the view to the identity (a person's only when it is a good view)."""
        if o.view is None:
            return False
        if o.kind == EntityKind.PERSON:
            return score >= self.config.person_learn_llr and self._good_view(o)
        return score >= self.config.update_similarity

    def _good_view(self, o: _Observation) -> bool:
        """A view that may found an identity: persons by merge_ros.perception.person_cues; others when framed
        well and alike enough to something of their kind (a poor view is less alike than different instances)."""
        if o.view is None or o.patch is None:
            return False
        if o.kind == EntityKind.PERSON:
            return self.persons.good(o.view)
        others = self._kind_identities(o.kind)
        best = max((self._appearance(o, i) or -1.0 for i in others), default=-1.0)
        if others and best < self.config.min_view_similarity:
            return False
        return self.config.min_framing_quality <= 0 or framing_quality(o.patch) >= self.config.min_framing_quality

    def _kind_identities(self, kind: EntityKind) -> list[_Identity]:
        return [i for i in self._identities.values() if i.kind == kind]

    # -- gallery upkeep ----------------------------------------------------------------------------------------

    def _describe(self, kind: EntityKind, patches: list[np.ndarray], with_face: bool) -> list[Any]:
        if not patches:
            return []
        if kind == EntityKind.PERSON:
            return [self.persons.describe(p, with_face) for p in patches]
        self.embeddings_computed += len(patches)
        return list(np.asarray(self.embedder.embed(patches), dtype=np.float32))

    def _duplicate(self, kind: EntityKind, view: Any, views: Sequence[Any]) -> bool:
        """Whether view adds nothing to views (a face is never a duplicate: faces are the scarce cue)."""
        if kind == EntityKind.PERSON:
            return not view.has_face() and max(float(v.colour @ view.colour) for v in views) >= \
                self.config.duplicate_similarity
        return float(max(np.stack(views) @ view)) >= self.config.duplicate_similarity

    def _learn(self, ident: _Identity, view: Any) -> None:
        views = ident.views()
        if views and self._duplicate(ident.kind, view, views):
            return
        ident.samples.append(view)
        while len(ident.samples) > self.config.gallery_size:
            ident.samples.popleft()

    def _track_motion(self, ident: _Identity, box: Box, stamp_ns: int, frame_shape: tuple[int, ...]) -> None:
        """Last box, time and a smoothed centre velocity (from consecutive sightings less than a second apart)."""
        if ident.last_box is not None and ident.last_seen_ns is not None and ident.last_frame_shape == frame_shape:
            dt = (stamp_ns - ident.last_seen_ns) / NS_PER_S
            if 0.0 < dt < 1.0:
                (x0, y0), (x1, y1) = ident.last_box.center, box.center
                vx, vy = ident.velocity
                ident.velocity = (0.5 * vx + 0.5 * (x1 - x0) / dt, 0.5 * vy + 0.5 * (y1 - y0) / dt)
            else:
                ident.velocity = (0.0, 0.0)
        if ident.first_seen_ns is None:
            ident.first_seen_ns = stamp_ns
        ident.last_seen_ns = stamp_ns
        ident.last_box = box
        ident.last_frame_shape = frame_shape

    def _new_identity(self, instance_id: str, kind: EntityKind, label: str) -> _Identity:
        ident = _Identity(instance_id, kind, label)
        self._identities[instance_id] = ident
        return ident

    def _next_id(self, kind: EntityKind) -> str:
        while True:
            self._counters[kind] += 1
            candidate = f"{KIND_NAMES[kind]}_{self._counters[kind]}"
            if candidate not in self._identities:
                return candidate

    def _forget_old_tracks(self, stamp_ns: int) -> None:
        timeout = self.config.track_timeout_s * NS_PER_S
        for key in [k for k, b in self._bindings.items() if stamp_ns - b.last_seen_ns > timeout]:
            binding = self._bindings.pop(key)
            if self._track_of.get(binding.identity) == key:
                del self._track_of[binding.identity]

    @staticmethod
    def _track_key(det: Detection) -> tuple[EntityKind, int]:
        return (EntityKind(det.kind), det.track_id)


def _lacks_face(view: Any) -> bool:
    """A person view made for a re-check (no face searched for) is redone in full when an identity is decided."""
    return isinstance(view, PersonView) and not view.face_searched


def _hands(actors) -> dict[Hand, tuple[float, float]]:
    """The visible hand points of this frame's actors, by (actor ID, keypoint name)."""
    return {(o.ident, k.name): (k.x, k.y) for o in actors if o.ident for k in o.det.keypoints
            if k.score >= _MIN_HAND_SCORE and np.isfinite(k.x) and np.isfinite(k.y)}


def _patch(frame: np.ndarray, box: Box) -> np.ndarray | None:
    """The frame's pixels inside the box; None for a box too small or outside the frame (then only class,
    position and time decide)."""
    if frame is None or frame.ndim < 2:
        return None
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(np.floor(box.x_min))), max(0, int(np.floor(box.y_min)))
    x1, y1 = min(w, int(np.ceil(box.x_max))), min(h, int(np.ceil(box.y_max)))
    if x1 - x0 < _MIN_PATCH_PX or y1 - y0 < _MIN_PATCH_PX:
        return None
    return frame[y0:y1, x0:x1]


def _find_reference(frame: np.ndarray, reference: np.ndarray) -> float:
    """Best normalised cross-correlation of the reference anywhere in the frame, at half resolution."""
    rh, rw = reference.shape[:2]
    if rh > frame.shape[0] or rw > frame.shape[1] or min(rh, rw) < 8:
        return -1.0
    scale = 0.5 if min(rh, rw) >= 24 else 1.0
    if scale < 1.0:
        frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        reference = cv2.resize(reference, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return float(cv2.minMaxLoc(cv2.matchTemplate(frame, reference, cv2.TM_CCOEFF_NORMED))[1])


def _view_match(frame: np.ndarray, box: Box, references: Sequence[np.ndarray]) -> float:
    """Best normalised cross-correlation of any reference image placed around the box (a reference carries a
    margin around the instance, or sits a few pixels off); -1 when none fits there."""
    best = -1.0
    h, w = frame.shape[:2]
    for ref in references:
        rh, rw = ref.shape[:2]
        if not (0.5 <= rw / max(1.0, box.width) <= 2.0 and 0.5 <= rh / max(1.0, box.height) <= 2.0):
            continue
        cx, cy = box.center
        slack = 0.25 * max(rw, rh)
        x0, y0 = max(0, int(cx - rw / 2 - slack)), max(0, int(cy - rh / 2 - slack))
        x1, y1 = min(w, int(cx + rw / 2 + slack) + 1), min(h, int(cy + rh / 2 + slack) + 1)
        if x1 - x0 < rw or y1 - y0 < rh:
            continue
        best = max(best, float(cv2.minMaxLoc(cv2.matchTemplate(frame[y0:y1, x0:x1], ref, cv2.TM_CCOEFF_NORMED))[1]))
    return best


def _overlapping(detections: Sequence[Detection], min_iou: float) -> np.ndarray:
    """Per detection, whether its box overlaps another detection's of the same kind by at least min_iou."""
    n = len(detections)
    if n < 2:
        return np.zeros(n, dtype=bool)
    b = boxes_array([d.box for d in detections])
    kinds = np.array([int(d.kind) for d in detections])
    same = (kinds[:, None] == kinds[None, :]) & ~np.eye(n, dtype=bool)
    return ((box_iou_matrix(b, b) >= min_iou) & same).any(axis=1)


def _labels_conflict(a: str, b: str) -> bool:
    a, b = a.strip().lower(), b.strip().lower()
    return a != b and a not in GENERIC_LABELS and b not in GENERIC_LABELS


def register_scene(gallery: IdentityGallery, scene: SceneFolder) -> int:
    """Register a scene's reference images (object_images/, person_images/, robot_images/; IDs = file stems).

    Returns how many were registered; an unreadable image is logged and skipped (SceneFolder.references).
    """
    count = 0
    for kind, instance_id, image in scene.references():
        gallery.register(instance_id, kind, KIND_NAMES[kind], image)
        count += 1
    return count
