"""Topic and service names of the graph and of its recordings, in one place that needs no ROS.

The graph's names are relative, so a namespace (launch argument `namespace`, `merge-ros run --namespace`) moves
them all. Recordings written by `merge-ros import-ground` use absolute names, as a robot's driver would; a
replay into a namespaced graph remaps them.
"""
from __future__ import annotations

from dataclasses import dataclass

from merge_ros.params import check_fields, param
from merge_ros.types import EntityKind

# --- the graph ---------------------------------------------------------------------------------------------------
IMAGE = "image"                        # sensor_msgs/Image from the camera
IMAGE_COMPRESSED = "image/compressed"  # sensor_msgs/CompressedImage, with the nodes' `compressed` parameter
CAMERA_INFO = "camera_info"            # sensor_msgs/CameraInfo of the camera (the aligned depth image shares it)
DEPTH_IMAGE = "depth_registered/image_raw"  # sensor_msgs/Image 16UC1 (mm) or 32FC1 (m), aligned to the camera image
ENTITIES = "entities"                  # perception_node -> event_node (and observers): merge_ros/EntityArray
TRIGGERS = "triggers"                  # event_node: merge_ros/Trigger
CANDIDATES = "candidates"              # event_node: merge_ros/Event, every candidate as it is proposed
STAGE_STEPS = "stage_steps"            # event_node -> grounding_node: merge_ros/StageStep, in stream order
REASONING_STATUS = "reasoning_status"  # event_node: merge_ros/ReasoningStatus
VLM_STATUS = "vlm_status"              # vlm_node: merge_ros/ReasoningStatus
EVENTS = "events"                      # grounding_node: merge_ros/Event, confirmed
SCENE = "scene"                        # grounding_node: merge_ros/SceneState, latched
MARKERS = "markers"                    # grounding_node: visualization_msgs/MarkerArray
DEBUG_IMAGE = "debug_image"            # grounding_node: sensor_msgs/Image
DIAGNOSTICS = "diagnostics"            # perception_node: diagnostic_msgs/DiagnosticArray
REASON_SERVICE = "reason"              # vlm_node: merge_ros/srv/Reason
GET_SCENE_SERVICE = "get_scene"        # grounding_node: merge_ros/srv/GetScene
GET_EVENTS_SERVICE = "get_events"      # grounding_node: merge_ros/srv/GetEvents
DETECTIONS = "detections"              # perception_node: vision_msgs/Detection2DArray, id = the persistent ID
DETECTIONS_3D = "detections_3d"        # perception_node, with depth: vision_msgs/Detection3DArray

# --- the robot stack's own interfaces, absolute by their conventions -------------------------------------------
TF = "/tf"                             # perception_node: tf2_msgs/TFMessage, a frame per located entity
# REP-155 (ROS4HRI), under perception_node's hri_prefix ("/humans" by default: one /humans per robot). The
# per-ID names take the ID as a ROS name token (merge_ros.ros.standard_views.name_token).
HUMANS = "/humans"
HRI_BODIES_TRACKED = "{prefix}/bodies/tracked"              # hri_msgs/IdsList
HRI_PERSONS_TRACKED = "{prefix}/persons/tracked"            # hri_msgs/IdsList
HRI_BODY_ROI = "{prefix}/bodies/{id}/roi"                   # hri_msgs/NormalizedRegionOfInterest2D
HRI_PERSON_BODY_ID = "{prefix}/persons/{id}/body_id"        # std_msgs/String, latched
HRI_PERSON_ANONYMOUS = "{prefix}/persons/{id}/anonymous"    # std_msgs/Bool, latched


@dataclass
class CameraInput:
    """Which camera topic a node reads (perception_node, event_node and grounding_node each have it)."""

    compressed: bool = param(False, "subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image")

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def topic(self) -> str:
        return IMAGE_COMPRESSED if self.compressed else IMAGE


# Registered instances (latched sensor_msgs/CompressedImage, header.frame_id = the instance ID), per kind.
REGISTRY_TOPICS: dict[EntityKind, str] = {EntityKind.OBJECT: "registry/objects",
                                          EntityKind.PERSON: "registry/persons",
                                          EntityKind.ROBOT: "registry/robots"}

# --- recordings (merge_ros.io.ground_import) ------------------------------------------------------------------
BAG_IMAGE_TOPIC = "/camera/image/compressed"
BAG_CAMERA_INFO_TOPIC = "/camera/camera_info"                     # sensor_msgs/CameraInfo, one per frame
BAG_DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"      # sensor_msgs/Image 16UC1 (mm), as RealSense names it
BAG_REGISTRY_TOPICS: dict[EntityKind, str] = {kind: "/" + topic for kind, topic in REGISTRY_TOPICS.items()}
GROUND_TRUTH_TOPIC = "/ground_truth"
CAMERA_FRAME = "camera"
# Topics a recording offers latched (TRANSIENT_LOCAL): a node started after the replay still gets them.
LATCHED_TOPICS: frozenset[str] = frozenset([*BAG_REGISTRY_TOPICS.values(), GROUND_TRUTH_TOPIC])
