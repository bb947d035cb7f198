"""Start the MERGE graph on a robot: perception, event detection, VLM reasoning and grounding (+ rviz).

    ros2 launch merge_ros merge.launch.py camera_topic:=/camera/color/image_raw model:=yolo11n.pt \
        vlm_backend:=transformers vlm_model:=Qwen/Qwen2.5-VL-3B-Instruct device:=cuda:0

Every node reads its parameters from params_file (config/merge.yaml by default); the launch arguments below
override the few that are usually changed per robot. `merge-ros run` starts the same nodes with the same file in
one process where `ros2 launch` is not available.

perception_node and vlm_node are lifecycle (managed) nodes: with autostart (the default) each configures and
activates itself as it starts, and a bad parameter or a model that cannot load ends its process with exit code 2
and one line naming the parameter. autostart:=false leaves them unconfigured, for `ros2 lifecycle set
/perception_node configure` (then activate) or a lifecycle manager; launch/replay.launch.py does so and drives them
with launch's lifecycle events.

With a depth camera (use_depth:=true), perception reads its aligned depth image and the colour camera's
CameraInfo, and entities get 3-D positions, /tf frames and detections_3d, e.g. for a RealSense
(realsense2_camera with align_depth.enable:=true) or a ZED:

    ros2 launch merge_ros merge.launch.py use_depth:=true camera_topic:=/camera/camera/color/image_raw \
        depth_topic:=/camera/camera/aligned_depth_to_color/image_raw camera_info_topic:=/camera/camera/color/camera_info
    ros2 launch merge_ros merge.launch.py use_depth:=true camera_topic:=/zed/zed_node/rgb/image_rect_color \
        depth_topic:=/zed/zed_node/depth/depth_registered camera_info_topic:=/zed/zed_node/rgb/camera_info

rviz2 opens config/merge.rviz and foxglove:=true starts foxglove_bridge for Foxglove's config/merge.foxglove.json.
Both name the graph's topics absolutely (/markers, /debug_image, /events, ...); with a namespace, the launch file
writes copies of both with the namespace in those names (a temporary folder, its path logged) and opens that rviz
copy. /tf and the REP-155 /humans topics stay as they are: they are absolute by their conventions.
"""
import json
import re
import tempfile
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import LifecycleNode, Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

from merge_ros import topics

PACKAGE = "merge_ros"
# The graph's own (relative) topics that the visualizer configurations name; everything else in them is absolute.
GRAPH_TOPICS = (topics.MARKERS, topics.DEBUG_IMAGE, topics.EVENTS, topics.ENTITIES, topics.SCENE, topics.DETECTIONS,
                topics.DETECTIONS_3D, topics.DIAGNOSTICS, topics.IMAGE, topics.IMAGE_COMPRESSED)

ARGUMENTS = {
    "namespace": ("", "namespace of every node and topic of the graph"),
    "camera_topic": ("camera/image_raw", "camera image topic (sensor_msgs/Image); <topic>/compressed when compressed"),
    "compressed": ("false", "subscribe to <camera_topic>/compressed (sensor_msgs/CompressedImage)"),
    "detector": ("ultralytics", "detector backend: ultralytics or annotations"),
    "model": ("yolo11n.pt", "Ultralytics detection model (path or name)"),
    "pose_model": ("yolo11n-pose.pt", "Ultralytics pose model for wrists ('' = none)"),
    "device": ("cpu", "torch device for the detector and the VLM: cpu, cuda:0, ..."),
    "scene_dir": ("", "folder of known instances (object_images/, person_images/, robot_images/; IDs = file "
                      "stems) and, for detector:=annotations, its annotations.jsonl ('' = none)"),
    "frame_queue": ("1", "frames perception keeps waiting: 1 = only the newest (live); more = every frame in order"),
    "reliable_images": ("false", "reliable camera subscription, for lossless replays (a best-effort camera then "
                                 "does not match)"),
    "vlm_backend": ("none", "VLM backend: transformers, openai or none"),
    "vlm_model": ("", "transformers model id/path, or the served model name for openai"),
    "vlm_base_url": ("http://127.0.0.1:8000/v1", "base URL of an OpenAI-compatible server"),
    "use_vlm": ("auto", "event_node asks vlm_node: true, false, or auto (when vlm_backend is not none)"),
    "journal_path": ("", "grounding journal (JSON lines) to restore from and append to ('' = none)"),
    "use_sim_time": ("false", "use /clock (true when replaying a bag)"),
    "autostart": ("true", "configure and activate the lifecycle nodes (perception_node, vlm_node) at start"),
    "use_depth": ("false", "perception reads an aligned depth image and CameraInfo (depth_topic, camera_info_topic): "
                           "3-D positions, /tf frames and detections_3d"),
    "depth_topic": ("camera/aligned_depth_to_color/image_raw", "aligned depth image (sensor_msgs/Image, 16UC1 mm or "
                                                              "32FC1 m), with use_depth"),
    "camera_info_topic": ("camera/camera_info", "the colour camera's sensor_msgs/CameraInfo, with use_depth"),
    "rviz": ("true", "start rviz2 with config/merge.rviz (its topics in the namespace)"),
    "foxglove": ("false", "start foxglove_bridge (ws://localhost:8765) and log the Foxglove layout for the namespace"),
    "params_file": ("", "parameter file (default: the package's config/merge.yaml)"),
}


def _true(value: LaunchConfiguration) -> PythonExpression:
    return PythonExpression(["'", value, "'.lower() == 'true'"])


def namespaced_rviz(text: str, namespace: str) -> str:
    """An rviz config whose displays' topics (`Value: /markers`) are the graph's topics in namespace."""
    names = "|".join(re.escape(t) for t in sorted(GRAPH_TOPICS, key=len, reverse=True))
    return re.sub(rf"(?m)^(\s*Value: )/({names})\s*$", lambda m: f"{m[1]}{namespace}/{m[2]}", text)


def namespaced_foxglove(layout: dict, namespace: str) -> dict:
    """A Foxglove layout whose panels' topics (strings and keys "/markers", message paths "/events.actor_id") are
    the graph's topics in namespace."""
    def move(value: str) -> str:
        for topic in GRAPH_TOPICS:
            if value == f"/{topic}" or value.startswith(f"/{topic}."):
                return namespace + value
        return value

    def walk(node):
        if isinstance(node, dict):
            return {move(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return move(node) if isinstance(node, str) else node

    return walk(layout)


def _visualizers(context) -> list:
    """rviz2 and foxglove_bridge (as their arguments ask), with the package's configs, or, in a namespace (the one
    PushRosNamespace made, outer ones included), copies of them in it."""
    on = {name: LaunchConfiguration(name).perform(context).lower() == "true" for name in ("rviz", "foxglove")}
    if not any(on.values()):
        return []
    share = Path(FindPackageShare(PACKAGE).perform(context)) / "config"
    rviz, foxglove = share / "merge.rviz", share / "merge.foxglove.json"
    namespace = "/" + context.launch_configurations.get("ros_namespace", "").strip("/")
    if namespace != "/":
        folder = Path(tempfile.mkdtemp(prefix="merge_ros_visualizers_"))
        rviz, foxglove = folder / rviz.name, folder / foxglove.name
        rviz.write_text(namespaced_rviz((share / rviz.name).read_text(), namespace))
        layout = namespaced_foxglove(json.loads((share / foxglove.name).read_text()), namespace)
        foxglove.write_text(json.dumps(layout, indent=2) + "\n")
    parameters = [{"use_sim_time": LaunchConfiguration("use_sim_time").perform(context).lower() == "true"}]
    actions = []
    if on["rviz"]:
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", output="log",
                            arguments=["-d", str(rviz)], parameters=parameters))
    if on["foxglove"]:
        actions += [LogInfo(msg=f"Foxglove: open ws://localhost:8765 and import the layout {foxglove} (Layouts > "
                                f"Import from file)"),
                    Node(package="foxglove_bridge", executable="foxglove_bridge", name="foxglove_bridge",
                         output="log", parameters=parameters)]
    return actions


def generate_launch_description() -> LaunchDescription:
    arg = {name: LaunchConfiguration(name) for name in ARGUMENTS}
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "merge.yaml"])
    params_file = PythonExpression(["'", arg["params_file"], "' or '", default_params, "'"])
    use_sim_time, compressed, autostart = _true(arg["use_sim_time"]), _true(arg["compressed"]), _true(arg["autostart"])
    use_vlm = PythonExpression(["'", arg["vlm_backend"], "' != 'none' if '", arg["use_vlm"], "' == 'auto' else '",
                                arg["use_vlm"], "'.lower() == 'true'"])
    camera_remaps = [("image", arg["camera_topic"]), ("image/compressed", [arg["camera_topic"], "/compressed"])]

    def node(executable: str, overrides: dict, remappings=(), lifecycle: bool = False) -> Node:
        """A graph node: the parameter file, then use_sim_time and the overrides; a LifecycleNode action for the
        managed ones, so that launch event handlers (OnStateTransition, ChangeState) can address them."""
        action = LifecycleNode if lifecycle else Node
        return action(
            package=PACKAGE, executable=executable, name=executable, namespace="", output="screen",
            parameters=[params_file, {"use_sim_time": use_sim_time, **overrides}],
            remappings=list(remappings),
        )

    graph = GroupAction([
        PushRosNamespace(arg["namespace"]),
        node("perception_node", {"detector": arg["detector"], "model": arg["model"],
                                 "pose_model": arg["pose_model"], "device": arg["device"],
                                 "scene_dir": arg["scene_dir"], "frame_queue": arg["frame_queue"],
                                 "reliable_images": _true(arg["reliable_images"]), "compressed": compressed,
                                 "use_depth": _true(arg["use_depth"]), "autostart": autostart},
             [*camera_remaps, (topics.DEPTH_IMAGE, arg["depth_topic"]), (topics.CAMERA_INFO, arg["camera_info_topic"])],
             lifecycle=True),
        node("event_node", {"compressed": compressed, "scene_dir": arg["scene_dir"], "use_vlm": use_vlm},
             camera_remaps),
        node("vlm_node", {"backend": arg["vlm_backend"], "model": arg["vlm_model"],
                          "base_url": arg["vlm_base_url"], "device": arg["device"], "autostart": autostart},
             lifecycle=True),
        node("grounding_node", {"journal_path": arg["journal_path"], "compressed": compressed}, camera_remaps),
        OpaqueFunction(function=_visualizers),
    ])
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, (default, text) in ARGUMENTS.items()] + [graph]
    )
