"""perception_node's parameters, declared once, and a builder of the perception pipeline from them.

The node declares exactly PARAMETERS (+ the identity ones) and hands their values to build_pipeline; the
offline runner hands it the node's section of config/merge.yaml. Both therefore build the same pipeline.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merge_ros.perception.errors import ParameterError
from merge_ros.perception.pipeline import PerceptionPipeline

ParamValue = bool | int | float | str | list


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: ParamValue
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()


DETECTORS = ("ultralytics", "annotations")
IDENTITY_PREFIX = "identity."
# Declared by rclpy itself for every node; a parameter file's section may hold it.
NODE_ONLY = ("use_sim_time",)

PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("detector", "ultralytics", "detector backend: ultralytics (a model) or annotations (a file of "
              "per-frame boxes, to evaluate the graph independently of detector accuracy)", choices=DETECTORS),
    ParamSpec("model", "yolo11n.pt", "Ultralytics model: a file (.pt, .onnx, .engine, .yaml) or a name it can "
              "download (YOLO, RT-DETR, YOLO-World, YOLOE)"),
    ParamSpec("pose_model", "yolo11n-pose.pt", "Ultralytics pose model giving persons' wrists ('' = none; unused "
              "when model is itself a pose model); runs only on frames with a person"),
    ParamSpec("device", "cpu", "torch device of the models: cpu, cuda:0, ..."),
    ParamSpec("imgsz", 640, "inference image size in pixels (longest side)", range=(32, 4096)),
    ParamSpec("conf", 0.25, "minimum detection confidence", range=(0.0, 1.0)),
    ParamSpec("iou", 0.7, "IoU threshold of non-maximum suppression", range=(0.0, 1.0)),
    ParamSpec("max_det", 100, "maximum detections per frame", range=(1, 1000)),
    ParamSpec("classes", [], "class names to keep ([] = all); for YOLO-World/YOLOE these are the open-vocabulary "
              "prompts. robot_classes are kept as well"),
    ParamSpec("robot_classes", [], "class names (or prompts) whose detections are robots (ROBOT actors)"),
    ParamSpec("half", False, "half-precision inference (CUDA only)"),
    ParamSpec("tracker", "bytetrack.yaml", "Ultralytics tracker configuration: bytetrack.yaml, botsort.yaml or a "
              "path ('' = no tracking, track_id -1)"),
    ParamSpec("pose_iou", 0.5, "minimum IoU between a pose box and a person box to give the person its wrists",
              range=(0.0, 1.0)),
    ParamSpec("annotations_file", "", "annotations.jsonl for the annotations detector ('' = the one in "
              "scene_dir)"),
    ParamSpec("annotations_tolerance", 0.01, "seconds between a frame's stamp and an annotated line's within "
              "which they match", range=(0.0, 10.0)),
    ParamSpec("scramble_track_ids", False, "annotations detector: a new raw track ID after every gap (a weak "
              "tracker, for the ID-switch figure)"),
    ParamSpec("scene_dir", "", "folder with object_images/, person_images/, robot_images/ whose instances are "
              "registered with their file stems as IDs ('' = none)"),
    ParamSpec("frame_id", "", "frame_id of the published entities ('' = the image's own)"),
    # perception_node's own (subscription, queue, timer); build_pipeline accepts and ignores them
    ParamSpec("compressed", False, "subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image"),
    ParamSpec("frame_queue", 1, "frames kept waiting while one is processed: 1 = only the newest (a live camera); "
              "more = every frame in order, as long as the queue does not overflow (replays that must match the "
              "offline path)", range=(1, 1000)),
    ParamSpec("diagnostics_period", 2.0, "seconds between diagnostics messages (0 = none)", range=(0.0, 3600.0)),
)


def identity_parameters() -> tuple[ParamSpec, ...]:
    """One `identity.<field>` parameter per field of IdentityConfig, so thresholds reach the gallery unchanged."""
    from merge_ros.perception.identity import IdentityConfig

    specs = []
    for f in dataclasses.fields(IdentityConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if not isinstance(default, (bool, int, float, str, list)):
            continue
        meta = f.metadata or {}
        specs.append(ParamSpec(IDENTITY_PREFIX + f.name, default,
                               meta.get("description", f"IdentityConfig.{f.name} (merge_ros.perception.identity)"),
                               range=meta.get("range")))
    return tuple(specs)


def all_parameters() -> tuple[ParamSpec, ...]:
    return PARAMETERS + identity_parameters()


def defaults() -> dict[str, ParamValue]:
    return {s.name: s.default for s in all_parameters()}


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as in a ROS parameter file ({"identity": {"use_hint_ids": true}}) to dotted names."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{name}."))
        else:
            out[prefix + name] = value
    return out


def check(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in; unknown names, out-of-range values and unknown choices raise ParameterError."""
    params = flatten(params)
    specs = {s.name: s for s in all_parameters()}
    for name in params:
        if name not in specs and name not in NODE_ONLY:
            raise ParameterError(name, f"unknown perception parameter (known: {', '.join(specs)})")
    values = {**defaults(), **params}
    for name, spec in specs.items():
        value = values[name] = _typed(spec, values[name])
        if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
            raise ParameterError(name, f"{value} is outside [{spec.range[0]}, {spec.range[1]}]")
        if spec.choices and value not in spec.choices:
            raise ParameterError(name, f"{value!r} is not one of {', '.join(spec.choices)}")
    return values


def _typed(spec: ParamSpec, value: Any) -> ParamValue:
    """The value as the parameter's type (an int where a float is wanted is fine); anything else raises."""
    want = type(spec.default)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is list and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, want) and (want is bool or not isinstance(value, bool)):
        return value
    raise ParameterError(spec.name, f"{value!r} is not a {want.__name__}")


def build_detector(p: Mapping[str, Any]):
    if p["detector"] == "annotations":
        from merge_ros.io.scene_folder import SceneFolder
        from merge_ros.perception.annotations_detector import AnnotationsConfig, AnnotationsDetector

        path = p["annotations_file"] or (str(SceneFolder(Path(p["scene_dir"])).annotations_path)
                                         if p["scene_dir"] else "")
        return AnnotationsDetector(AnnotationsConfig(
            path, tolerance_s=p["annotations_tolerance"], hint_ids=bool(p.get(IDENTITY_PREFIX + "use_hint_ids")),
            scramble_track_ids=p["scramble_track_ids"]))
    from merge_ros.perception.ultralytics_detector import UltralyticsConfig, UltralyticsDetector

    names = {f.name for f in dataclasses.fields(UltralyticsConfig)}
    return UltralyticsDetector(UltralyticsConfig(**{k: v for k, v in p.items() if k in names}))


def build_identity(p: Mapping[str, Any]):
    """The identity gallery, with the scene's reference instances registered (their IDs are the file stems)."""
    from merge_ros.io.scene_folder import SceneFolder
    from merge_ros.perception.identity import IdentityConfig, IdentityGallery, register_scene

    config = IdentityConfig(**{k[len(IDENTITY_PREFIX):]: v for k, v in p.items() if k.startswith(IDENTITY_PREFIX)})
    gallery = IdentityGallery(config)
    if p["scene_dir"]:
        root = Path(p["scene_dir"]).expanduser()
        if not root.is_dir():
            raise ParameterError("scene_dir", f"{p['scene_dir']!r} is not a folder")
        register_scene(gallery, SceneFolder(root))
    return gallery


def build_pipeline(params: Mapping[str, Any] | None = None) -> PerceptionPipeline:
    """Build the pipeline perception_node runs, from its parameter values (missing ones take their defaults)."""
    p = check(params or {})
    return PerceptionPipeline(build_detector(p), build_identity(p), frame_id=p["frame_id"])
