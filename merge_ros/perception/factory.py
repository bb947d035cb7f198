"""perception_node's parameters, declared once, and a builder of the perception pipeline from them.

The node declares exactly PERCEPTION_PARAMETERS and hands their values to build_pipeline; the offline runner
hands it the node's section of config/merge.yaml. Both therefore build the same pipeline, checked alike
(merge_ros.params.resolve: ParameterError naming the parameter).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from merge_ros.io.scene_folder import SceneFolder
from merge_ros.params import Param, ParameterError, from_dataclass, resolve, subset
from merge_ros.perception.identity import IdentityConfig, IdentityGallery, register_scene
from merge_ros.perception.pipeline import PerceptionPipeline

DETECTORS = ("ultralytics", "annotations")
IDENTITY_PREFIX = "identity."
# Declared by rclpy itself for every node; a parameter file's section may hold it.
NODE_ONLY = ("use_sim_time",)

PIPELINE_PARAMETERS: dict[str, Param] = {
    "detector": Param("ultralytics", "detector backend: ultralytics (a model) or annotations (a file of per-frame "
                                     "boxes, to evaluate the graph independently of detector accuracy)",
                      choices=DETECTORS),
    "model": Param("yolo11n.pt", "Ultralytics model: a file (.pt, .onnx, .engine, .yaml) or a name it can download "
                                 "(YOLO, RT-DETR, YOLO-World, YOLOE)"),
    "pose_model": Param("yolo11n-pose.pt", "Ultralytics pose model giving persons' wrists ('' = none; unused when "
                                           "model is itself a pose model); runs only on frames with a person"),
    "device": Param("cpu", "torch device of the models: cpu, cuda:0, ..."),
    "imgsz": Param(640, "inference image size in pixels (longest side)", 32, 4096),
    "conf": Param(0.25, "minimum detection confidence", 0.0, 1.0),
    "iou": Param(0.7, "IoU threshold of non-maximum suppression", 0.0, 1.0),
    "max_det": Param(100, "maximum detections per frame", 1, 1000),
    "classes": Param([], "class names to keep ([] = all); for YOLO-World/YOLOE these are the open-vocabulary "
                         "prompts. robot_classes are kept as well"),
    "robot_classes": Param([], "class names (or prompts) whose detections are robots (ROBOT actors)"),
    "half": Param(False, "half-precision inference (CUDA only)"),
    "tracker": Param("bytetrack.yaml", "Ultralytics tracker configuration: bytetrack.yaml, botsort.yaml or a path "
                                       "('' = no tracking, track_id -1)"),
    "pose_iou": Param(0.5, "minimum IoU between a pose box and a person box to give the person its wrists",
                      0.0, 1.0),
    "annotations_file": Param("", "annotations.jsonl for the annotations detector ('' = the one in scene_dir)"),
    "annotations_tolerance": Param(0.01, "seconds between a frame's stamp and an annotated line's within which "
                                         "they match", 0.0, 10.0),
    "scramble_track_ids": Param(False, "annotations detector: a new raw track ID after every gap (a weak tracker, "
                                       "for the ID-switch figure)"),
    "scene_dir": Param("", "folder with object_images/, person_images/, robot_images/ whose instances are "
                           "registered with their file stems as IDs ('' = none)"),
    "frame_id": Param("", "frame_id of the published entities ('' = the image's own)"),
}
# perception_node's own (subscription, queue, timer); build_pipeline accepts and ignores them
NODE_PARAMETERS: dict[str, Param] = {
    "compressed": Param(False, "subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image"),
    "frame_queue": Param(1, "frames kept waiting while one is processed: 1 = only the newest (a live camera); "
                            "more = every frame in order, as long as the queue does not overflow (replays that "
                            "must match the offline path)", 1, 1000),
    "reliable_images": Param(False, "subscribe to the camera with reliable QoS, so that a replay loses no frame "
                                    "(a camera publishing best effort then does not match: keep false live)"),
    "diagnostics_period": Param(2.0, "seconds between diagnostics messages (0 = none)", 0.0, 3600.0),
}


def _identity_param(f: dataclasses.Field) -> Param | None:
    """An IdentityConfig field as the parameter identity.<field>, described (and ranged) by its metadata."""
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    if not isinstance(default, (bool, int, float, str, list)):
        return None
    low, high = f.metadata.get("range", (None, None))
    return Param(default, f.metadata.get("description", f"IdentityConfig.{f.name} (merge_ros.perception.identity)"),
                 low, high)


# One `identity.<field>` parameter per field of IdentityConfig, so thresholds reach the gallery unchanged.
IDENTITY_PARAMETERS: dict[str, Param] = {IDENTITY_PREFIX + name: p
                                         for name, p in from_dataclass(IdentityConfig, _identity_param).items()}
PERCEPTION_PARAMETERS: dict[str, Param] = {**PIPELINE_PARAMETERS, **NODE_PARAMETERS, **IDENTITY_PARAMETERS}


def check(params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in; unknown names, wrong types, out-of-range values and unknown choices raise
    ParameterError. Nested mappings ({"identity": {...}}) count as their dotted names; NODE_ONLY ones are
    dropped."""
    return resolve(PERCEPTION_PARAMETERS, params, ignore=NODE_ONLY)


def build_detector(p: Mapping[str, Any]):
    if p["detector"] == "annotations":
        from merge_ros.perception.annotations_detector import AnnotationsConfig, AnnotationsDetector

        path = p["annotations_file"] or (str(SceneFolder(Path(p["scene_dir"])).annotations_path)
                                         if p["scene_dir"] else "")
        return AnnotationsDetector(AnnotationsConfig(
            path, tolerance_s=p["annotations_tolerance"], hint_ids=bool(p.get(IDENTITY_PREFIX + "use_hint_ids")),
            scramble_track_ids=p["scramble_track_ids"]))
    from merge_ros.perception.ultralytics_detector import UltralyticsConfig, UltralyticsDetector

    return UltralyticsDetector(UltralyticsConfig(**subset(p, UltralyticsConfig)))


def build_identity(p: Mapping[str, Any]):
    """The identity gallery, with the scene's reference instances registered (their IDs are the file stems)."""
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
