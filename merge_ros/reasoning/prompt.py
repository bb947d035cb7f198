"""The guided reasoning request MERGE sends to the VLM when perception triggers, and the answer it asks for.

A request holds, in this order: a labelled reference crop of each known object instance ("object_3 (apple)"),
a crop of each actor captioned with its ID and perception's tentative action ("person_1 (tentative: grasp
object_3)"), and the last N frames ("frame t-3" .. "frame t-0", oldest first, spaced frame_interval_s apart,
longest side max_side). The instructions (INSTRUCTIONS below, the one place the prompt text lives) ask for one
JSON object per acting person, with only the IDs shown, so that parse.parse_answer can validate the answer.

RequestBuilder keeps the recent frames and the reference crops; it imports no rclpy, so the event node and the
offline runner build identical requests from the same input.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from merge_ros.events import tentative
from merge_ros.io.images import resize_longest
from merge_ros.io.scene_folder import SceneFolder
from merge_ros.params import check_fields, param
from merge_ros.types import Box, Entity, EntityFrame, EntityKind, ReasonRequest, Trigger, seconds_to_ns
from merge_ros.vocabulary import ACTIONS

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
The images above show people (and maybe a robot) handling objects on a table: first a labelled reference \
crop of each known object instance, then a crop of each actor with its ID and, where perception has one, \
a tentative action, then the last {n_frames} camera frames, oldest first (frame t-0 is the newest).

Perception noticed a change for {actor_id}: {reason}.{tentative}
Known actors: {actors}.
Known objects: {objects}.

For each person (or robot) who acts on an object in the last frames, give one JSON object with:
- "actor": the actor's ID;
- "action": one of {actions} (grasp: takes hold of an object; hold: keeps holding it; place_down: puts it \
down; pour: pours from it into another object; handover: gives it to another actor; idle: does nothing with \
an object);
- "object": the ID of the object acted on;
- "on": the ID of the object it is placed on, or "in": the ID of the object it is placed or poured into \
(only when it applies);
- "robot_interaction": true if a robot takes part (gives, receives or holds the same object), else false.
Use only the IDs listed above. Answer with JSON only, in this form:
{{"events": [{{"actor": "<actor id>", "action": "<action>", "object": "<object id>", "robot_interaction": false}}]}}
"""

REASON_TEXT: dict[str, str] = {
    tentative.CONTACT_START: "a hand touched an object",
    tentative.CONTACT_END: "a hand let go of an object",
    tentative.OBJECT_MOVING: "an object started to move",
    tentative.OBJECT_REST: "an object came to rest",
    tentative.OBJECT_TILTED: "a held object tilted",
    tentative.OBJECT_TRANSFER: "an object passed between actors",
    tentative.ROBOT_CONTACT: "a robot's gripper met the actor's hand or the same object",
    tentative.ACTOR_APPEARED: "the actor appeared",
    tentative.ACTOR_LEFT: "the actor left",
}


@dataclass
class PromptConfig:
    """How much of the scene goes into a request (each field is a parameter of event_node)."""

    frames: int = param(4, "camera frames per VLM request (the last N, oldest first)", 1, 16)
    frame_interval_s: float = param(
        0.25, "least time between the frames of a request, so they span the action rather than a few "
        "milliseconds", 0.0, 10.0)
    max_side: int = param(512, "longest side in pixels of the frames sent to the VLM", 64, 4096)
    crop_max_side: int = param(256, "longest side in pixels of object and actor crops", 32, 4096)
    crop_margin: float = param(
        0.15, "actor crops grow by this fraction of the box on each side (hands, the objects next to them)",
        0.0, 2.0)
    max_objects: int = param(
        12, "most object instances (reference crops) per request, nearest the actor first", 0, 64)
    sync_tolerance_s: float = param(
        0.05, "a camera frame matches an entity frame when their header stamps differ by at most this", 0.0, 5.0)
    buffer_frames: int = param(
        32, "camera frames kept for requests (enough to cover frames x frame_interval_s at the camera rate)",
        1, 1000)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class _Frame:
    """A buffered camera frame; a lazy source is decoded (and shrunk) on first use, since most frames never are."""

    stamp_ns: int
    source: Callable[[], np.ndarray] | None  # None once decoded
    image: np.ndarray | None = None  # shrunk to max_side
    scale: float = 1.0  # shrunk pixels per source pixel


def answer_schema(actor_ids: list[str], object_ids: list[str]) -> dict:
    """JSON schema of the answer INSTRUCTIONS ask for, with the request's IDs as enums (for constrained decoding)."""
    objects = {"type": "string", "enum": [*object_ids, ""]}
    entry = {
        "type": "object",
        "properties": {
            "actor": {"type": "string", "enum": list(actor_ids)},
            "action": {"type": "string", "enum": list(ACTIONS)},
            "object": objects, "on": objects, "in": objects,
            "robot_interaction": {"type": "boolean"},
        },
        "required": ["actor", "action", "object", "robot_interaction"],
    }
    return {"type": "object", "properties": {"events": {"type": "array", "items": entry}}, "required": ["events"]}


def crop(image: np.ndarray, box: Box, scale: float = 1.0, margin: float = 0.0) -> np.ndarray | None:
    """The part of image under box (source pixels times scale), grown by margin of its size; None if empty."""
    if not all(math.isfinite(v) for v in box.as_list()):
        return None
    height, width = image.shape[:2]
    mx, my = box.width * margin, box.height * margin
    x0, y0 = max(0, int((box.x_min - mx) * scale)), max(0, int((box.y_min - my) * scale))
    x1, y1 = min(width, int(np.ceil((box.x_max + mx) * scale))), min(height, int(np.ceil((box.y_max + my) * scale)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return image[y0:y1, x0:x1].copy()


def tentative_caption(trigger: Trigger) -> str:
    """"grasp object_3" or "place_down object_3 on object_5", from a trigger's tentative relation."""
    words = [trigger.tentative_action, trigger.object_id]
    if trigger.relation and trigger.target_id:
        words += [trigger.relation, trigger.target_id]
    return " ".join(w for w in words if w)


class RequestBuilder:
    """Recent frames and reference crops, turned into a ReasonRequest when a trigger fires."""

    def __init__(self, config: PromptConfig | None = None) -> None:
        self.config = config or PromptConfig()
        self._frames: deque[_Frame] = deque(maxlen=self.config.buffer_frames)
        self._references: dict[str, tuple[str, np.ndarray]] = {}
        self.bad_frames = 0  # lazy frames that could not be decoded

    @property
    def references(self) -> dict[str, str]:
        """Label of every object that has a reference crop, by ID."""
        return {object_id: label for object_id, (label, _) in self._references.items()}

    @property
    def newest_stamp_ns(self) -> int | None:
        """Stamp of the newest buffered frame (None: none yet), e.g. to tell whether the camera is connected."""
        return self._frames[-1].stamp_ns if self._frames else None

    def add_frame(self, stamp_ns: int, image: np.ndarray | Callable[[], np.ndarray]) -> None:
        """Keep a camera frame: a BGR array, or a function decoding one when (if ever) it is needed, which spares
        decoding every compressed frame of the stream. An older stamp than the newest kept (a bag restarting)
        clears the buffer. A bad array raises ValueError here; a lazy frame that fails is skipped and counted."""
        frame = _Frame(stamp_ns, image if callable(image) else None)
        if not callable(image):
            frame.image, frame.scale = resize_longest(_checked(image), self.config.max_side)
        if self._frames and stamp_ns < self._frames[-1].stamp_ns:
            self._frames.clear()
        self._frames.append(frame)

    def register_reference(self, object_id: str, image: np.ndarray, label: str = "") -> None:
        """Use image (BGR) as the labelled reference crop of object_id from now on."""
        self._references[object_id] = (label, resize_longest(image, self.config.crop_max_side)[0])

    def load_references(self, scene_dir: Path | str) -> list[str]:
        """Register object_images/<id>.jpg of a GROUND-format folder; return the IDs registered."""
        loaded = []
        for _, object_id, image in SceneFolder(Path(scene_dir)).references((EntityKind.OBJECT,)):
            self.register_reference(object_id, image)
            loaded.append(object_id)
        return loaded

    def observe(self, entities: EntityFrame) -> None:
        """Take a reference crop of each object seen for the first time, from the frame of the same stamp (only
        then is that frame decoded)."""
        new = [e for e in entities.entities if e.kind == EntityKind.OBJECT and e.id not in self._references]
        frame = self._frame_at(entities.stamp_ns) if new else None
        if frame is None:
            return
        for entity in new:
            patch = crop(frame.image, entity.box, frame.scale, margin=0.1)
            if patch is not None:
                self._references[entity.id] = (entity.label, resize_longest(patch, self.config.crop_max_side)[0])

    def build(self, trigger: Trigger, entities: EntityFrame | None,
              tentative: Mapping[str, Trigger] | None = None) -> ReasonRequest | None:
        """The request for a trigger, given the entities of its frame; None when no frame is buffered yet.

        tentative holds perception's current reading of other actors (as triggers), which captions their crops.
        """
        frames = self._recent_frames(trigger.stamp_ns)
        if not frames:
            return None
        entities = entities or EntityFrame(trigger.stamp_ns, trigger.frame_id)
        by_id = entities.by_id()
        tentative = {**(tentative or {}), trigger.actor_id: trigger}
        current = self._frame_at(entities.stamp_ns)
        images: list[np.ndarray] = []
        captions: list[str] = []

        object_ids = self._object_ids(trigger, entities)
        for object_id in object_ids:
            label, image = self._references.get(object_id, ("", None))
            label = by_id[object_id].label if object_id in by_id else label
            if image is not None:
                images.append(image)
                captions.append(f"{object_id} ({label})" if label and label != object_id else object_id)

        actors = [e for e in entities.entities if e.is_actor]
        actors.sort(key=lambda e: e.id != trigger.actor_id)
        for actor in actors:
            patch = None if current is None else crop(current.image, actor.box, current.scale,
                                                      self.config.crop_margin)
            if patch is not None:
                images.append(resize_longest(patch, self.config.crop_max_side)[0])
                captions.append(self._actor_caption(actor, tentative.get(actor.id)))
        actor_ids = list(dict.fromkeys([trigger.actor_id, *(a.id for a in actors)]))

        for i, frame in enumerate(frames):
            images.append(frame.image)
            captions.append(f"frame t-{len(frames) - 1 - i}")

        prompt = INSTRUCTIONS.format(
            n_frames=len(frames), actor_id=trigger.actor_id, reason=REASON_TEXT.get(trigger.reason, trigger.reason),
            tentative=f" Tentative action: {tentative_caption(trigger)}." if trigger.tentative_action else "",
            actors=", ".join(actor_ids), objects=", ".join(object_ids) or "none", actions=", ".join(ACTIONS))
        return ReasonRequest(trigger, prompt, images, captions, actor_ids, object_ids)

    def _object_ids(self, trigger: Trigger, entities: EntityFrame) -> list[str]:
        """The trigger's objects, then the frame's objects nearest the actor, then other known instances."""
        actor = entities.by_id().get(trigger.actor_id)
        seen = [e for e in entities.entities if e.kind == EntityKind.OBJECT]
        if actor is not None:
            cx, cy = actor.box.center
            seen.sort(key=lambda e: e.box.distance_to_point(cx, cy))
        ordered = [trigger.object_id, trigger.target_id, *(e.id for e in seen), *sorted(self._references)]
        return list(dict.fromkeys(i for i in ordered if i))[: max(0, self.config.max_objects)]

    @staticmethod
    def _actor_caption(actor: Entity, trigger: Trigger | None) -> str:
        notes = ["robot"] if actor.kind == EntityKind.ROBOT else []
        if trigger is not None and trigger.tentative_action:
            notes.append(f"tentative: {tentative_caption(trigger)}")
        return f"{actor.id} ({', '.join(notes)})" if notes else actor.id

    def _frame_at(self, stamp_ns: int) -> _Frame | None:
        """The buffered frame nearest stamp_ns within the sync tolerance, decoded."""
        tolerance = seconds_to_ns(self.config.sync_tolerance_s)
        best = min(self._frames, key=lambda f: abs(f.stamp_ns - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns - stamp_ns) > tolerance:
            return None
        return self._decoded(best)

    def _decoded(self, frame: _Frame) -> _Frame | None:
        """frame with its pixels, decoding a lazy one; None (and the frame forgotten) if it cannot be decoded."""
        if frame.source is not None:
            try:
                frame.image, frame.scale = resize_longest(_checked(frame.source()), self.config.max_side)
            except ValueError as exc:  # ImageError is one
                self.bad_frames += 1
                log.warning("skipping a camera frame that cannot be decoded (%d so far): %s", self.bad_frames, exc)
                self._frames.remove(frame)
                return None
            frame.source = None
        return frame

    def _recent_frames(self, stamp_ns: int) -> list[_Frame]:
        """Up to `frames` frames up to stamp_ns, newest first picked, at least frame_interval_s apart; oldest first."""
        tolerance = seconds_to_ns(self.config.sync_tolerance_s)
        interval = seconds_to_ns(self.config.frame_interval_s)
        picked: list[_Frame] = []
        for frame in reversed(list(self._frames)):
            if len(picked) >= self.config.frames:
                break
            limit = stamp_ns + tolerance if not picked else picked[-1].stamp_ns - interval + tolerance
            if frame.stamp_ns <= limit and self._decoded(frame) is not None:
                picked.append(frame)
        return picked[::-1]


def _checked(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(f"not a BGR frame: {getattr(image, 'shape', type(image).__name__)}")
    return image
