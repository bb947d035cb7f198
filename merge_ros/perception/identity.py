"""Persistent identity above the tracker: a gallery of known instances matched by appearance, class, position
and time, so that an actor or object that is occluded, leaves or returns keeps its ID.

Per frame (IdentityGallery.assign):
1. hint IDs (config.use_hint_ids): a detection that carries the source's own instance ID keeps it;
2. live tracks: a tracker ID already bound to a persistent ID keeps it without any embedding (the cheap path).
   A bounded number of tracked detections per frame are re-embedded: first those in doubt (their box started or
   stopped overlapping another of their kind, where trackers swap IDs), then the longest unverified. One that
   no longer matches its identity but clearly matches another is released to step 3 (with its identity);
   otherwise the gallery learns its current appearance;
3. the rest (new tracks, no tracker, lost bindings) are embedded and matched to the free identities of their
   kind by one Hungarian assignment (scipy's linear_sum_assignment) on score = appearance similarity
   + a position term (near where the identity was last seen, or was heading, fading with the time since; only
   within one image geometry) - a penalty for conflicting class labels. A pairing below match_similarity
   loses to "someone else". Two detections of one frame never share an ID.
4. "Someone else" is, in this order: the most alike free registered instance, if at least min_view_similarity
   alike (a scene's reference images name its cast: a known instance seen badly is likelier than an unknown
   one); the most alike free identity of the kind if the observation is a poor view (less alike to every
   identity than different people are to each other, or badly framed: embedding.framing_quality), which must
   not found an identity; otherwise a new ID person_N / robot_N / object_N (skipping registered stems).

Each identity keeps its registered reference embeddings plus up to gallery_size observed ones, added only when
the match was confident and the view is new, so a person seen from several sides is recognised from each. The
embedder is merge_ros.perception.embedding.MobileNetV2Embedder unless another is given.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from merge_ros.io.scene_folder import SceneFolder
from merge_ros.params import check_fields, param
from merge_ros.perception.detection import Detection
from merge_ros.perception.embedding import Embedder, framing_quality
from merge_ros.types import KIND_NAMES, NS_PER_S, Box, Entity, EntityKind

log = logging.getLogger(__name__)

# Labels that say nothing beyond the kind; they never conflict with a detector's class name.
GENERIC_LABELS = frozenset({"", *KIND_NAMES.values()})
_INFEASIBLE = 1e6
_MIN_PATCH_PX = 4


@dataclass
class IdentityConfig:
    """Thresholds of the identity gallery; similarities are cosine similarities of appearance embeddings.

    The appearance defaults were chosen on the eight GROUND development scenes' person crops (merge-ros bench
    identity), with a plateau around them rather than a peak: two people there score about 0.6-0.75 against each
    other, one person's well-framed views 0.8-1.0 against their earlier ones, and views from another camera or
    mostly hidden 0.4-0.6. The position defaults were chosen on synthetic scenes (look-alike fruit that only
    position tells apart). Values outside a field's range raise ValueError.
    """

    use_hint_ids: bool = param(False, "use a detection's hint_id (e.g. the annotations' true ID) as its ID")
    match_similarity: float = param(
        0.65, "appearance score at or above which a detection is an identity seen before", 0.0, 1.0)
    min_view_similarity: float = param(
        0.5, "an observation less alike than this to every identity of its kind is a poor view: it goes to the "
        "most alike free identity instead of founding a new one", 0.0, 1.0)
    update_similarity: float = param(
        0.65, "a match at least this alike adds the observation to the identity's gallery", 0.0, 1.0)
    duplicate_similarity: float = param(
        0.97, "an observation this alike to one already in the gallery adds nothing and is not stored", 0.0, 1.0)
    gallery_size: int = param(16, "observed embeddings kept per identity (besides registered ones)", 1, 1000)
    position_weight: float = param(
        1.0, "weight of the position term: +weight where a just-seen identity was (or was heading), 0 at the "
        "edge of where it may have moved since, -weight beyond twice that", 0.0, 10.0)
    position_horizon_s: float = param(
        1.5, "seconds over which position evidence fades after an identity was last seen", 0.001, 3600.0)
    position_speed: float = param(
        2.0, "box diagonals per second an instance may move while unseen (widens the position term)", 0.0, 100.0)
    position_tie: float = param(
        0.3, "position can favour an identity only over others at most this much more alike in appearance",
        0.0, 2.0)
    label_penalty: float = param(
        0.3, "score penalty when a detection's class differs from an identity's (generic labels never differ)",
        0.0, 10.0)
    switch_margin: float = param(
        0.1, "a re-embedded track leaves its identity only for another that matches and is this much more alike",
        0.0, 1.0)
    track_timeout_s: float = param(
        2.0, "seconds after which an unseen tracker ID's binding to a persistent ID is forgotten", 0.0, 3600.0)
    refresh_interval_s: float = param(
        20.0, "re-embed a tracked detection at least this often (0 = every frame, within the budget)", 0.0, 3600.0)
    max_verifications_per_frame: int = param(
        1, "tracked detections re-embedded per frame at most (those in doubt first, then the oldest)", 0, 1000)
    doubt_iou: float = param(
        0.4, "a track whose box starts or stops overlapping another of its kind this much (IoU) is in doubt and "
        "re-embedded first", 0.0, 1.0)
    min_framing_quality: float = param(
        0.62, "a detection framed worse than this (embedding.framing_quality: its box's middle hardly stands out "
        "from its border) never founds a new identity while a free one of its kind exists (0 = off)", 0.0, 1.0)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class _Identity:
    id: str
    kind: EntityKind
    label: str
    registered: bool = False
    anchors: list[np.ndarray] = field(default_factory=list)
    samples: deque = field(default_factory=deque)
    first_seen_ns: int | None = None
    last_seen_ns: int | None = None
    last_box: Box | None = None
    last_frame_shape: tuple[int, ...] = ()
    velocity: tuple[float, float] = (0.0, 0.0)  # of the box centre, pixels per second

    def vectors(self) -> list[np.ndarray]:
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
    embedding: np.ndarray | None = None
    patch: np.ndarray | None = None
    learn: bool = False
    overlapping: bool = False


class IdentityGallery:
    """Assigns persistent IDs to a frame's detections (see the module docstring)."""

    def __init__(self, config: IdentityConfig | None = None, embedder: Embedder | None = None):
        self.config = config or IdentityConfig()
        self._embedder = embedder
        self._identities: dict[str, _Identity] = {}
        self._bindings: dict[tuple[EntityKind, int], _Binding] = {}
        self._track_of: dict[str, tuple[EntityKind, int]] = {}  # identity -> the one live track bound to it
        self._counters = {kind: 0 for kind in EntityKind}
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
        ident = self._identities.get(instance_id)
        if ident is None:
            ident = self._new_identity(instance_id, EntityKind(kind), label)
        elif ident.kind != kind:
            raise ValueError(f"{instance_id} is already registered as a {ident.kind.name}, "
                             f"not a {EntityKind(kind).name}")
        ident.registered = True
        anchor = self._embed([image])[0]
        if not ident.anchors or float(max(np.stack(ident.anchors) @ anchor)) < self.config.duplicate_similarity:
            ident.anchors.append(anchor)  # the same reference registered again (a re-sent registry) adds nothing

    # -- per frame ---------------------------------------------------------------------------------------------

    def assign(self, frame: np.ndarray, detections: list[Detection], stamp_ns: int) -> list[Entity]:
        """Entities with persistent IDs for the frame's detections, in the same order."""
        self._forget_old_tracks(stamp_ns)
        obs = [_Observation(d) for d in detections]
        for o, overlapping in zip(obs, _overlapping(detections, self.config.doubt_iou), strict=True):
            o.overlapping = bool(overlapping)
        taken: set[str] = set()
        if self.config.use_hint_ids:
            self._take_hints(obs, taken)
        self._keep_tracks(frame, obs, taken, stamp_ns)
        self._match_rest(frame, obs, taken, stamp_ns)
        shape = tuple(frame.shape[:2]) if frame is not None else ()
        return [self._commit(o, stamp_ns, shape) for o in obs]

    def _take_hints(self, obs: list[_Observation], taken: set[str]) -> None:
        for o in obs:
            hint = o.det.hint_id
            if not hint or hint in taken:
                continue
            known = self._identities.get(hint)
            if known is not None and known.kind != o.det.kind:
                log.warning("hint ID %s is a %s, detection is a %s: ignored", hint, known.kind.name,
                            EntityKind(o.det.kind).name)
                continue
            if known is None:
                self._new_identity(hint, EntityKind(o.det.kind), o.det.label)
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
            binding.verified_ns = stamp_ns
            binding.doubt = False
            o.patch = _patch(frame, o.det.box)
            if o.patch is None:
                continue
            o.embedding = self._embed([o.patch])[0]
            sims = self._similarities(o.embedding[None], self._kind_identities(EntityKind(o.det.kind)))[0]
            own = sims.pop(o.ident, 0.0)
            rival = max((v for k, v in sims.items()
                         if not _labels_conflict(o.det.label, self._identities[k].label)), default=-1.0)
            if rival >= self.config.match_similarity and rival > own + self.config.switch_margin:
                # Looks like someone else now (a tracker swap): decided afresh, with the other detections.
                taken.discard(o.ident)
                o.ident = ""
                continue
            o.learn = own >= self.config.update_similarity

    def _to_verify(self, tracked: list, stamp_ns: int) -> list:
        """The tracked detections to re-embed this frame: those in doubt first, then the longest unverified."""
        budget = self.config.max_verifications_per_frame
        if budget <= 0 or not tracked:
            return []
        interval = self.config.refresh_interval_s * NS_PER_S
        due = [(not b.doubt, b.verified_ns, i) for i, (_, b) in enumerate(tracked)
               if b.doubt or stamp_ns - b.verified_ns >= interval]
        return [tracked[i] for _, _, i in sorted(due)[:budget]]

    def _match_rest(self, frame: np.ndarray, obs: list[_Observation], taken: set[str], stamp_ns: int) -> None:
        rest = [o for o in obs if not o.ident]
        if not rest:
            return
        for o in rest:
            if o.patch is None:
                o.patch = _patch(frame, o.det.box)
        embedded = [o for o in rest if o.patch is not None and o.embedding is None]
        if embedded:
            for o, vec in zip(embedded, self._embed([o.patch for o in embedded]), strict=True):
                o.embedding = vec
        free = [i for i in self._identities.values() if i.id not in taken]
        scores, appearance = self._scores(rest, free, stamp_ns, tuple(frame.shape[:2]) if frame is not None else ())
        threshold = self.config.match_similarity
        n_rows, n_cols = scores.shape
        # One "someone new" column per row, scoring exactly the threshold: a pairing must beat it.
        new_cols = np.full((n_rows, n_rows), -_INFEASIBLE)
        np.fill_diagonal(new_cols, threshold)
        rows, cols = linear_sum_assignment(-np.hstack([scores, new_cols]))
        unmatched = []
        for r, c in zip(rows, cols, strict=True):
            if c < n_cols and scores[r, c] >= threshold:
                rest[r].ident = free[c].id
                rest[r].learn = appearance[r, c] >= self.config.update_similarity
                taken.add(free[c].id)
            else:
                unmatched.append(r)
        for r in unmatched:
            self._settle_unmatched(rest[r], free, scores[r], appearance[r], taken)

    def _settle_unmatched(self, o: _Observation, free: list[_Identity], scores: np.ndarray, appearance: np.ndarray,
                          taken: set[str]) -> None:
        kind = EntityKind(o.det.kind)
        open_cols = [c for c, ident in enumerate(free) if ident.id not in taken and scores[c] > -_INFEASIBLE / 2
                     and not _labels_conflict(o.det.label, ident.label)]
        floor = self.config.min_view_similarity
        known = [c for c in open_cols if free[c].registered and scores[c] >= floor]
        if known:
            c = max(known, key=lambda c: scores[c])
            # A known instance's first observed view is learnt: its reference may show it quite differently.
            o.learn = free[c].last_seen_ns is None
        elif open_cols and self._poor_view(o):
            c = max(open_cols, key=lambda c: scores[c])
        else:
            o.ident = self._new_identity(self._next_id(kind), kind, o.det.label).id
            o.learn = o.embedding is not None
            taken.add(o.ident)
            return
        o.ident = free[c].id
        taken.add(o.ident)

    def _commit(self, o: _Observation, stamp_ns: int, frame_shape: tuple[int, ...]) -> Entity:
        ident = self._identities[o.ident]
        if o.learn and o.embedding is not None and not o.overlapping:  # an overlapped view mixes two instances
            self._learn(ident, o.embedding)
        if ident.label.strip().lower() in GENERIC_LABELS:
            ident.label = o.det.label  # a registered "object" learns its class from the detector
        self._track_motion(ident, o.det.box, stamp_ns, frame_shape)
        if o.det.track_id >= 0:
            key = self._track_key(o.det)
            old = self._bindings.get(key)
            if old is not None and old.identity == o.ident:
                old.last_seen_ns = stamp_ns
            else:  # a new binding, decided on this frame's embedding (or hint)
                if old is not None and self._track_of.get(old.identity) == key:
                    del self._track_of[old.identity]
                previous = self._track_of.get(o.ident)
                stale = self._bindings.get(previous) if previous is not None else None
                if stale is not None and stale.identity == o.ident:
                    del self._bindings[previous]  # an identity follows one live track
                self._bindings[key] = _Binding(o.ident, stamp_ns, stamp_ns, o.overlapping)
                self._track_of[o.ident] = key
        d = o.det
        return Entity(id=o.ident, kind=EntityKind(d.kind), label=d.label, box=d.box, confidence=d.confidence,
                      keypoints=list(d.keypoints), track_id=d.track_id,
                      track_age=(stamp_ns - ident.first_seen_ns) / NS_PER_S)

    # -- scores ------------------------------------------------------------------------------------------------

    def _scores(self, rest: list[_Observation], free: list[_Identity], stamp_ns: int,
                frame_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(match scores, appearance similarities), rows = observations, columns = free identities."""
        appearance = np.zeros((len(rest), len(free)))
        embedded = [r for r, o in enumerate(rest) if o.embedding is not None]
        if embedded and free:
            sims = self._similarities(np.stack([rest[r].embedding for r in embedded]), free)
            for row, r in enumerate(embedded):
                appearance[r] = [sims[row].get(i.id, 0.0) for i in free]
        scores = appearance.copy()
        for r, o in enumerate(rest):
            best_look = max((appearance[r, c] for c, ident in enumerate(free) if ident.kind == o.det.kind
                             and not _labels_conflict(o.det.label, ident.label)), default=0.0)
            for c, ident in enumerate(free):
                if ident.kind != o.det.kind:
                    scores[r, c] = -_INFEASIBLE
                    continue
                if ident.last_frame_shape == frame_shape:  # positions compare only within one image geometry
                    position = self._position_term(o.det.box, ident, stamp_ns)
                    # Position breaks near-ties of appearance (look-alikes) but never outweighs a clear difference.
                    if appearance[r, c] < best_look - self.config.position_tie:
                        position = min(position, 0.0)
                    scores[r, c] += position
                if _labels_conflict(o.det.label, ident.label):
                    scores[r, c] -= self.config.label_penalty
        return scores, appearance

    def _position_term(self, box: Box, ident: _Identity, stamp_ns: int) -> float:
        """Between +w (at the identity's last box) and -w (twice its reach away or more), 0 at its reach (how far
        it may have moved since); fading to 0 as the last sighting ages, when it could be anywhere."""
        if ident.last_box is None or ident.last_seen_ns is None:
            return 0.0
        gap_s = max(0.0, (stamp_ns - ident.last_seen_ns) / NS_PER_S)
        fade = float(np.exp(-gap_s / self.config.position_horizon_s))
        (x0, y0), (x1, y1) = box.center, ident.last_box.center
        x1, y1 = x1 + ident.velocity[0] * gap_s, y1 + ident.velocity[1] * gap_s  # where it was heading
        diag = max(np.hypot(ident.last_box.width, ident.last_box.height), np.hypot(box.width, box.height), 1.0)
        reach = diag * (1.0 + self.config.position_speed * gap_s)
        distance = min(2.0, float(np.hypot(x1 - x0, y1 - y0)) / reach)
        return self.config.position_weight * fade * (1.0 - distance)

    def _similarities(self, embeddings: np.ndarray, identities: Sequence[_Identity]) -> list[dict[str, float]]:
        """Per embedding row, each identity's best similarity over its gallery (identities without one: absent)."""
        owners, vectors = [], []
        for ident in identities:
            for v in ident.vectors():
                owners.append(ident.id)
                vectors.append(v)
        out: list[dict[str, float]] = [{} for _ in range(len(embeddings))]
        if not vectors:
            return out
        sims = embeddings @ np.stack(vectors).T
        for row in range(len(embeddings)):
            best = out[row]
            for owner, s in zip(owners, sims[row], strict=True):
                if s > best.get(owner, -2.0):
                    best[owner] = float(s)
        return out

    def _poor_view(self, o: _Observation) -> bool:
        """Whether the observation is too poor a view to found an identity (see the module docstring)."""
        if o.embedding is None or o.patch is None:
            return True
        sims = self._similarities(o.embedding[None], self._kind_identities(EntityKind(o.det.kind)))[0]
        if max(sims.values(), default=-1.0) < self.config.min_view_similarity:
            return True
        return (self.config.min_framing_quality > 0
                and framing_quality(o.patch) < self.config.min_framing_quality)

    def _kind_identities(self, kind: EntityKind) -> list[_Identity]:
        return [i for i in self._identities.values() if i.kind == kind]

    # -- gallery upkeep ----------------------------------------------------------------------------------------

    def _learn(self, ident: _Identity, embedding: np.ndarray) -> None:
        vectors = ident.vectors()
        if vectors and float(max(np.stack(vectors) @ embedding)) >= self.config.duplicate_similarity:
            return
        ident.samples.append(embedding)
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

    # -- embedding ------------------------------------------------------------------------------------------------

    def _embed(self, images: list[np.ndarray]) -> np.ndarray:
        self.embeddings_computed += len(images)
        return np.asarray(self.embedder.embed(images), dtype=np.float32)



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


def _overlapping(detections: Sequence[Detection], min_iou: float) -> np.ndarray:
    """Per detection, whether its box overlaps another detection's of the same kind by at least min_iou."""
    n = len(detections)
    if n < 2:
        return np.zeros(n, dtype=bool)
    b = np.array([d.box.as_list() for d in detections], dtype=np.float64)
    kinds = np.array([int(d.kind) for d in detections])
    iw = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area[:, None] + area[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    same = (kinds[:, None] == kinds[None, :]) & ~np.eye(n, dtype=bool)
    return ((iou >= min_iou) & same).any(axis=1)


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
