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

Scenes with depth (merge_ros.synth writes them) add, all optional, so that files without them still read:

    "depth": "depth/1700000000.100000.png"          the frame's aligned depth image (16UC1 PNG, millimetres)
    entity "position": [x, y, z]                    its true 3-D reference point: an object's centre, a person's
                                                    chest, a robot's grip point
    keypoint "position": [x, y, z]                  the keypoint's true 3-D point (the wrist joint, the grip point)

Positions are in the camera's optical frame (x right, y down, z forward), metres, rounded to 0.1 mm. They are
ground truth, not detector output: they are read into AnnotatedFrame.positions and keypoint_positions, never
into the entities, so a detector replaying this file reports no 3-D positions of its own.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from merge_ros.types import KIND_NAMES, KINDS_BY_NAME, Box, Entity, EntityKind, Keypoint, Point3, seconds_to_ns


@dataclass
class AnnotatedFrame:
    stamp: float
    image: str
    entities: list[Entity]
    depth: str = ""                                     # aligned depth image, relative to the scene; "" = none
    positions: dict[str, Point3] = field(default_factory=dict)     # entity ID -> true 3-D point
    keypoint_positions: dict[str, dict[str, Point3]] = field(default_factory=dict)  # ID -> keypoint -> point

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


def frame_to_json(fr: AnnotatedFrame) -> dict:
    """One line of the file; the depth fields only where the frame has them."""
    entities = []
    for e in fr.entities:
        d = entity_to_json(e)
        if e.id in fr.positions:
            d["position"] = _point_to_json(fr.positions[e.id])
        points = fr.keypoint_positions.get(e.id, {})
        for k in d["keypoints"]:
            if k["name"] in points:
                k["position"] = _point_to_json(points[k["name"]])
        entities.append(d)
    out: dict = {"stamp": fr.stamp, "image": fr.image}
    if fr.depth:
        out["depth"] = fr.depth
    out["entities"] = entities
    return out


def frame_from_json(d: dict) -> AnnotatedFrame:
    items = d.get("entities", [])
    return AnnotatedFrame(
        float(d["stamp"]), str(d.get("image", "")), [entity_from_json(e) for e in items], str(d.get("depth", "")),
        {str(e["id"]): _point_from_json(e["position"]) for e in items if "position" in e},
        {str(e["id"]): {str(k["name"]): _point_from_json(k["position"]) for k in e.get("keypoints", [])
                        if "position" in k}
         for e in items if any("position" in k for k in e.get("keypoints", []))})


def _point_to_json(p: Point3) -> list[float]:
    return [round(float(v), 4) for v in p]


def _point_from_json(values: list) -> Point3:
    x, y, z = (float(v) for v in values)
    return (x, y, z)


def write_annotations(path: Path, frames: Iterable[AnnotatedFrame]) -> None:
    with Path(path).open("w") as f:
        for fr in frames:
            f.write(json.dumps(frame_to_json(fr)) + "\n")


def read_annotations(path: Path) -> Iterator[AnnotatedFrame]:
    """Yield the frames of an annotations.jsonl file; a malformed line raises ValueError naming it."""
    with Path(path).open() as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield frame_from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: malformed annotation line: {exc}") from exc
