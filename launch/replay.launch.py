"""Evaluate on a recording: play a bag into the MERGE graph and record the grounded events.

    ros2 launch merge_ros replay.launch.py bag:=scene_007.mcap events_bag:=events_007
    merge-ros evaluate --gt scene_007/ground_truth.json --pred events_007

The bag is one written by `merge-ros import-ground` (frames on /camera/image/compressed, registered instances on
/registry/*) or by `ros2 bag record` on a robot. It is played with /clock, so every node runs on bag time.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, TimerAction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = {
    "bag": ("", "bag to play (directory or .mcap)"),
    "events_bag": ("merge_events", "output bag for the grounded events, triggers and candidates"),
    "rate": ("1.0", "playback rate"),
    "camera_topic": ("/camera/image", "image topic in the bag (without /compressed)"),
    "compressed": ("true", "the bag holds <camera_topic>/compressed"),
    "detector": ("ultralytics", "detector backend: ultralytics or annotations"),
    "vlm_backend": ("none", "VLM backend: transformers, openai or none"),
    "vlm_model": ("", "VLM model id/path or served model name"),
    "rviz": ("false", "start rviz2 as well"),
    "start_delay": ("3.0", "seconds to let the graph come up before playing"),
}


def generate_launch_description() -> LaunchDescription:
    arg = {name: LaunchConfiguration(name) for name in ARGUMENTS}
    graph = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("merge_ros"), "launch",
                                                            "merge.launch.py"])),
        launch_arguments={
            "camera_topic": arg["camera_topic"], "compressed": arg["compressed"], "detector": arg["detector"],
            "vlm_backend": arg["vlm_backend"], "vlm_model": arg["vlm_model"], "rviz": arg["rviz"],
            "use_sim_time": "true",
        }.items(),
    )
    record = ExecuteProcess(
        cmd=["ros2", "bag", "record", "-s", "mcap", "-o", arg["events_bag"], "/events", "/triggers", "/candidates",
             "/scene"],
        output="screen",
    )
    play = TimerAction(period=arg["start_delay"], actions=[ExecuteProcess(
        cmd=["ros2", "bag", "play", arg["bag"], "--clock", "--rate", arg["rate"]], output="screen")])
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, (default, text) in ARGUMENTS.items()] + [graph, record, play]
    )
