"""Per-frame entity annotations: the file format shared by the synthetic scenes and the `annotations` detector.

One JSON object per line (annotations.jsonl), one line per frame, in time order:

    {"stamp": 1700000000.1, "image": "images/1700000000.100000.jpg",
     "entities": [{"id": "person_1", "kind": "person", "label": "person", "box": [x_min, y_min, x_max, y_max],
                   "confidence": 0.93, "track_id": 4,
                   "keypoints": [{"name": "left_wrist", "x": 210.0, "y": 300.5, "score": 0.9}]}]}

`stamp` is in seconds (the image file's stem), `id` is the true persistent ID (a registered instance's file
stem), `track_id` a short-lived tracker ID as a detector's tracker would give it (-1 if none), `kind` one of
person, robot, object. Boxes and keypoints are in pixels of the frame. Entities that are not visible in a frame
(occluded, out of view, missed by the detector) are simply absent from that line.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from merge_ros.types import KIND_NAMES, KINDS_BY_NAME, Box, Entity, EntityKind, Keypoint, seconds_to_ns


@dataclass
class AnnotatedFrame:
    stamp: float
    image: str
    entities: list[Entity]

    @property
    def stamp_ns(self) -> int:
        return seconds_to_ns(self.stamp)


def entity_to_json(e: Entity) -> dict:
    return {
        "id": e.id, "kind": KIND_NAMES[EntityKind(e.kind)], "label": e.label,
        "box": [round(float(v), 2) for v in e.box.as_list()], "confidence": round(float(e.confidence), 3),
        "track_id": int(e.track_id),
        "keypoints": [{"name": k.name, "x": round(float(k.x), 2), "y": round(float(k.y), 2),
                       "score": round(float(k.score), 3)} for k in e.keypoints],
    }


def entity_from_json(d: dict) -> Entity:
    try:
        kind = KINDS_BY_NAME[d["kind"]]
    except KeyError as exc:
        raise ValueError(f"entity {d.get('id')!r}: kind must be one of {sorted(KINDS_BY_NAME)}") from exc
    return Entity(
        id=str(d["id"]), kind=kind, label=str(d.get("label", d["kind"])), box=Box(*map(float, d["box"])),
        confidence=float(d.get("confidence", 1.0)), track_id=int(d.get("track_id", -1)),
        keypoints=[Keypoint(k["name"], float(k["x"]), float(k["y"]), float(k.get("score", 1.0)))
                   for k in d.get("keypoints", [])],
    )


def write_annotations(path: Path, frames: Iterable[AnnotatedFrame]) -> None:
    with Path(path).open("w") as f:
        for fr in frames:
            f.write(json.dumps({"stamp": fr.stamp, "image": fr.image,
                                "entities": [entity_to_json(e) for e in fr.entities]}) + "\n")


def read_annotations(path: Path) -> Iterator[AnnotatedFrame]:
    """Yield the frames of an annotations.jsonl file; a malformed line raises ValueError naming it."""
    with Path(path).open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                yield AnnotatedFrame(float(d["stamp"]), str(d.get("image", "")),
                                     [entity_from_json(e) for e in d.get("entities", [])])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: malformed annotation line: {exc}") from exc
