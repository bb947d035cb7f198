"""Start the MERGE graph on a robot: perception, event detection, VLM reasoning and grounding (+ rviz).

    ros2 launch merge_ros merge.launch.py camera_topic:=/camera/color/image_raw model:=yolo11n.pt \
        vlm_backend:=transformers vlm_model:=Qwen/Qwen2.5-VL-3B-Instruct device:=cuda:0

Every node reads its parameters from params_file (config/merge.yaml by default); the launch arguments below
override the few that are usually changed per robot. `merge-ros run` starts the same nodes with the same file in
one process where `ros2 launch` is not available.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.substitutions import FindPackageShare

PACKAGE = "merge_ros"

ARGUMENTS = {
    "namespace": ("", "namespace of every node and topic of the graph"),
    "camera_topic": ("camera/image_raw", "camera image topic (sensor_msgs/Image); <topic>/compressed when compressed"),
    "compressed": ("false", "subscribe to <camera_topic>/compressed (sensor_msgs/CompressedImage)"),
    "detector": ("ultralytics", "detector backend: ultralytics or annotations"),
    "model": ("yolo11n.pt", "Ultralytics detection model (path or name)"),
    "pose_model": ("yolo11n-pose.pt", "Ultralytics pose model for wrists ('' = none)"),
    "device": ("cpu", "torch device for the detector and the VLM: cpu, cuda:0, ..."),
    "vlm_backend": ("none", "VLM backend: transformers, openai or none"),
    "vlm_model": ("", "transformers model id/path, or the served model name for openai"),
    "vlm_base_url": ("http://127.0.0.1:8000/v1", "base URL of an OpenAI-compatible server"),
    "journal_path": ("", "grounding journal (JSON lines) to restore from and append to ('' = none)"),
    "use_sim_time": ("false", "use /clock (true when replaying a bag)"),
    "rviz": ("true", "start rviz2 with config/merge.rviz"),
    "params_file": ("", "parameter file (default: the package's config/merge.yaml)"),
}


def generate_launch_description() -> LaunchDescription:
    arg = {name: LaunchConfiguration(name) for name in ARGUMENTS}
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "merge.yaml"])
    params_file = PythonExpression(["'", arg["params_file"], "' or '", default_params, "'"])
    use_sim_time = PythonExpression(["'", arg["use_sim_time"], "'.lower() == 'true'"])
    compressed = PythonExpression(["'", arg["compressed"], "'.lower() == 'true'"])
    camera_remaps = [("image", arg["camera_topic"]), ("image/compressed", [arg["camera_topic"], "/compressed"])]

    def node(executable: str, overrides: dict, remappings=()) -> Node:
        return Node(
            package=PACKAGE, executable=executable, name=executable, output="screen",
            parameters=[params_file, {"use_sim_time": use_sim_time, **overrides}],
            remappings=list(remappings),
        )

    graph = GroupAction([
        PushRosNamespace(arg["namespace"]),
        node("perception_node", {"detector": arg["detector"], "model": arg["model"],
                                 "pose_model": arg["pose_model"], "device": arg["device"],
                                 "compressed": compressed}, camera_remaps),
        node("event_node", {"compressed": compressed}, camera_remaps),
        node("vlm_node", {"backend": arg["vlm_backend"], "model": arg["vlm_model"],
                          "base_url": arg["vlm_base_url"], "device": arg["device"]}),
        node("grounding_node", {"journal_path": arg["journal_path"], "compressed": compressed}, camera_remaps),
        Node(
            package="rviz2", executable="rviz2", name="rviz2", output="log",
            arguments=["-d", PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "merge.rviz"])],
            parameters=[{"use_sim_time": use_sim_time}],
            condition=IfCondition(arg["rviz"]),
        ),
    ])
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, (default, text) in ARGUMENTS.items()] + [graph]
    )
