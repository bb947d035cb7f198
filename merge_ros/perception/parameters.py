"""perception_node's parameter table, and the perception pipeline built from its resolved values.

The node declares exactly PERCEPTION_PARAMETERS and hands their values to build_pipeline; the offline path
resolves the node's section of config/merge.yaml against the same table and does the same, so both build the
same pipeline.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from merge_ros.io.scene_folder import SceneFolder
from merge_ros.params import LifecycleConfig, Param, ParameterError, check_fields, config_of, param, table
from merge_ros.perception.annotations_detector import AnnotationsConfig
from merge_ros.perception.depth import DepthConfig, DepthLocator
from merge_ros.perception.identity import IdentityConfig, IdentityGallery, register_scene
from merge_ros.perception.pipeline import PerceptionPipeline
from merge_ros.perception.ultralytics_detector import UltralyticsConfig
from merge_ros.topics import HUMANS, CameraInput

DETECTORS = ("ultralytics", "annotations")
IDENTITY_PREFIX = "identity."
DEPTH_PREFIX = "depth."


@dataclass
class PerceptionConfig:
    """What the pipeline is made of, beside the detectors' and the gallery's own settings."""

    detector: str = param("ultralytics", "detector backend: ultralytics (a model) or annotations (a file of "
                                         "per-frame boxes, to evaluate the graph independently of detector accuracy)",
                          choices=DETECTORS)
    scene_dir: str = param("", "folder with object_images/, person_images/, robot_images/ whose instances are "
                               "registered with their file stems as IDs ('' = none)")
    frame_id: str = param("", "frame_id of the published entities ('' = the image's own)")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class PerceptionNodeConfig:
    """perception_node's own settings: how frames are received and reported."""

    frame_queue: int = param(1, "frames kept waiting while one is processed: 1 = only the newest (a live camera); "
                                "more = every frame in order, as long as the queue does not overflow (replays that "
                                "must match the offline path)", 1, 1000)
    reliable_images: bool = param(False, "subscribe to the camera with reliable QoS, so that a replay loses no frame "
                                         "(a camera publishing best effort then does not match: keep false live)")
    diagnostics_period: float = param(2.0, "seconds between diagnostics messages (0 = none)", 0.0, 3600.0)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class DepthInputConfig:
    """Whether perception_node reads an aligned depth camera, and how a colour frame finds its depth image. The
    names follow the depth drivers: RealSense (aligned_depth_to_color/image_raw, 16UC1 mm) and ZED
    (depth/depth_registered, 32FC1 m) stamp the aligned depth image with its colour frame's stamp and publish it
    after that frame, together with the colour camera's CameraInfo."""

    use_depth: bool = param(False, "subscribe to depth_registered/image_raw (sensor_msgs/Image, 16UC1 mm or 32FC1 m, "
                                   "aligned to the colour image) and camera_info, and give entities 3-D positions "
                                   "(false: neither subscription, no positions)")
    depth_tolerance_s: float = param(0.02, "a colour frame takes the depth image with its own stamp or, failing "
                                           "that, the nearest one within this many seconds", 0.0, 1.0)
    depth_wait_s: float = param(0.1, "longest a colour frame waits for its depth image (drivers publish it after "
                                     "the colour frame); without one it is processed without depth", 0.0, 5.0)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class StandardOutputsConfig:
    """The robot stack's own interfaces perception_node publishes beside its EntityArray (merge_ros.ros.
    standard_outputs): TF frames, vision_msgs detections and REP-155 (ROS4HRI) persons and bodies. An output whose
    message package is not installed is off, with one log line."""

    publish_tf: bool = param(True, "publish a /tf frame per entity with a 3-D position (<kind>_<id>, child of the "
                                   "image's frame_id) and REP-155 body_<body id> frames")
    publish_detections: bool = param(True, "publish detections (vision_msgs/Detection2DArray, id = the persistent "
                                           "ID) and, with depth, detections_3d (Detection3DArray)")
    publish_hri: bool = param(True, "publish persons and their bodies as REP-155 (ROS4HRI) has it, under hri_prefix")
    hri_prefix: str = param(HUMANS, "root of the REP-155 topics: absolute (/humans: one per robot, as REP-155 has "
                                    "it) or relative (humans: under the node's namespace, e.g. one per camera)")
    body_timeout_s: float = param(1.0, "a REP-155 body unseen this long (stream time) is gone, with its topics; the "
                                       "person seen again gets a new body ID", 0.0, 60.0)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.hri_prefix.strip("/"):
            raise ParameterError("hri_prefix", "must name a namespace, e.g. /humans")


PERCEPTION_PARAMETERS: dict[str, Param] = {
    **table(PerceptionConfig, UltralyticsConfig, AnnotationsConfig, PerceptionNodeConfig, CameraInput, LifecycleConfig,
            DepthInputConfig, StandardOutputsConfig),
    **table(IdentityConfig, prefix=IDENTITY_PREFIX),
    **table(DepthConfig, prefix=DEPTH_PREFIX),
}


def build_detector(values: Mapping[str, Any]):
    """The detector backend the resolved values name (a missing model or file: ParameterError naming it)."""
    settings = config_of(PerceptionConfig, values)
    if settings.detector == "annotations":
        from merge_ros.perception.annotations_detector import AnnotationsDetector

        config = config_of(AnnotationsConfig, values)
        if not config.annotations_file and settings.scene_dir:
            config = replace(config, annotations_file=str(SceneFolder(Path(settings.scene_dir)).annotations_path))
        return AnnotationsDetector(replace(config, hint_ids=values[IDENTITY_PREFIX + "use_hint_ids"]))
    from merge_ros.perception.ultralytics_detector import UltralyticsDetector

    return UltralyticsDetector(config_of(UltralyticsConfig, values))


def build_identity(values: Mapping[str, Any]) -> IdentityGallery:
    """The identity gallery, with the scene's reference instances registered (their IDs are the file stems)."""
    gallery = IdentityGallery(config_of(IdentityConfig, values, IDENTITY_PREFIX))
    scene_dir = config_of(PerceptionConfig, values).scene_dir
    if scene_dir:
        root = Path(scene_dir).expanduser()
        if not root.is_dir():
            raise ParameterError("scene_dir", f"{scene_dir!r} is not a folder")
        register_scene(gallery, SceneFolder(root))
    return gallery


def build_pipeline(values: Mapping[str, Any]) -> PerceptionPipeline:
    """The pipeline perception_node runs, from its resolved values (merge_ros.params.resolve of
    PERCEPTION_PARAMETERS)."""
    return PerceptionPipeline(build_detector(values), build_identity(values),
                              frame_id=config_of(PerceptionConfig, values).frame_id,
                              locator=DepthLocator(config_of(DepthConfig, values, DEPTH_PREFIX)))
