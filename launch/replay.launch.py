"""Evaluate on a recording: play a bag into the MERGE graph and record the grounded events.

    ros2 launch merge_ros replay.launch.py bag:=scene_007.mcap events_bag:=events_007
    merge-ros evaluate --gt scene_007/ground_truth.json --pred events_007

The bag is one written by `merge-ros import-ground` (frames on /camera/image/compressed, registered instances on
/registry/*) or by `ros2 bag record` on a robot. It is played with /clock, so every node runs on bag time, by
`ros2 bag play` (player:=ros2bag, what a ROS install has) or by `merge-ros replay` (player:=merge-ros, for
machines without rosbag2); the events are recorded by the matching recorder.

The graph is included with autostart:=false and brought up here with launch's lifecycle events: perception_node
and vlm_node are configured as their processes start, activated once configured, and the bag plays once
perception_node is active, so no frame is published before it can be processed. A node that fails to configure
(its one error line names the parameter) shuts the launch down. lossless:=true makes every frame reach
perception in order (reliable, queued): events then equal the offline path's (`merge-ros demo --offline`), with
player:=merge-ros or a bag recorded from a reliable publisher.
"""
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    RegisterEventHandler,
)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessStart
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState, StateTransition
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare
from lifecycle_msgs.msg import Transition

PACKAGE = "merge_ros"
MANAGED = ("perception_node", "vlm_node")
EVENT_TOPICS = ["/events", "/triggers", "/candidates", "/scene"]

ARGUMENTS = {
    "bag": ("", "bag to play (directory or .mcap)"),
    "events_bag": ("merge_events", "output bag for the grounded events, triggers, candidates and scene"),
    "player": ("ros2bag", "bag player and recorder: ros2bag (ros2 bag play/record) or merge-ros (merge-ros "
                          "replay/record)"),
    "rate": ("1.0", "playback rate"),
    "camera_topic": ("/camera/image", "image topic in the bag (without /compressed)"),
    "compressed": ("true", "the bag holds <camera_topic>/compressed"),
    "lossless": ("false", "every frame reaches perception, in order (reliable, queued): for evaluation"),
    "detector": ("ultralytics", "detector backend: ultralytics or annotations"),
    "model": ("yolo11n.pt", "Ultralytics detection model (path or name)"),
    "scene_dir": ("", "folder of known instances (and annotations.jsonl for detector:=annotations)"),
    "vlm_backend": ("none", "VLM backend: transformers, openai or none"),
    "vlm_model": ("", "VLM model id/path or served model name"),
    "journal_path": ("", "grounding journal ('' = none)"),
    "wait_subscribers": ("7", "player:=merge-ros: matched subscriptions to wait for before playing, all topics "
                              "together: 3 on the camera topic (perception, event_node, grounding's debug image) + 4 "
                              "on the registry topics of an import-ground bag (6 if it has no robot, 3 without "
                              "registry topics); one too many only delays the start, by up to 30 s"),
    "rviz": ("false", "start rviz2 as well"),
}


def _is_node(event, name: str) -> bool:
    return isinstance(event, StateTransition) and event.action.node_name.rsplit("/", 1)[-1] == name


def _transition(name: str, transition_id: int) -> EmitEvent:
    return EmitEvent(event=ChangeState(lifecycle_node_matcher=lambda action: action.node_name.rsplit("/", 1)[-1]
                                       == name, transition_id=transition_id))


def _bring_up(play: list) -> list:
    """Configure each managed node as it starts, activate it once configured, shut down if it cannot configure;
    `play` starts once perception_node is active. Each only the first time: a later `ros2 lifecycle set` is the
    user's to make."""
    handlers = []
    for name in MANAGED:
        handlers += [
            RegisterEventHandler(OnProcessStart(
                target_action=lambda action, name=name: getattr(action, "node_name", "").endswith("/" + name),
                on_start=[_transition(name, Transition.TRANSITION_CONFIGURE)])),
            RegisterEventHandler(OnStateTransition(
                matcher=lambda e, name=name: _is_node(e, name) and e.start_state == "configuring"
                and e.goal_state == "inactive",
                entities=[_transition(name, Transition.TRANSITION_ACTIVATE)], handle_once=True)),
            RegisterEventHandler(OnStateTransition(
                matcher=lambda e, name=name: _is_node(e, name) and e.start_state == "configuring"
                and e.goal_state != "inactive",
                entities=[EmitEvent(event=Shutdown(reason=f"{name} failed to configure"))], handle_once=True)),
        ]
    handlers.append(RegisterEventHandler(OnStateTransition(
        matcher=lambda e: _is_node(e, "perception_node") and e.goal_state == "active", entities=play,
        handle_once=True)))
    return handlers


def _player_and_recorder(arg: dict) -> tuple[list, list]:
    """(players, recorders): each on the condition of its `player` (and, for merge-ros replay, of `lossless`)."""
    def player_is(name: str, lossless: bool | None = None) -> IfCondition:
        expression = ["'", arg["player"], f"' == '{name}'"]
        if lossless is not None:
            expression += [" and ('", arg["lossless"], f"'.lower() == 'true') == {lossless}"]
        return IfCondition(PythonExpression(expression))

    merge_ros = PathJoinSubstitution([FindPackagePrefix(PACKAGE), "lib", PACKAGE, "merge-ros"])
    # perception is active when this starts, but the player's own discovery may not have seen every subscription
    # yet (those on the registry topics before perception's camera one): it waits for the number it is given
    replay = [merge_ros, "replay", arg["bag"], "--clock", "--rate", arg["rate"], "--wait-subscribers",
              arg["wait_subscribers"], "--wait-timeout", "30"]
    players = [
        ExecuteProcess(cmd=["ros2", "bag", "play", arg["bag"], "--clock", "--rate", arg["rate"]], output="screen",
                       condition=player_is("ros2bag")),
        ExecuteProcess(cmd=replay, output="screen", condition=player_is("merge-ros", lossless=False)),
        ExecuteProcess(cmd=[*replay, "--reliable"], output="screen", condition=player_is("merge-ros", lossless=True)),
    ]
    recorders = [
        ExecuteProcess(cmd=["ros2", "bag", "record", "-s", "mcap", "-o", arg["events_bag"], *EVENT_TOPICS],
                       output="screen", condition=player_is("ros2bag")),
        ExecuteProcess(cmd=[merge_ros, "record", *EVENT_TOPICS, "-o", arg["events_bag"]], output="screen",
                       condition=player_is("merge-ros")),
    ]
    return players, recorders


def generate_launch_description() -> LaunchDescription:
    arg = {name: LaunchConfiguration(name) for name in ARGUMENTS}
    lossless = PythonExpression(["'", arg["lossless"], "'.lower() == 'true'"])
    graph = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare(PACKAGE), "launch",
                                                            "merge.launch.py"])),
        launch_arguments={
            "camera_topic": arg["camera_topic"], "compressed": arg["compressed"], "detector": arg["detector"],
            "model": arg["model"], "scene_dir": arg["scene_dir"], "vlm_backend": arg["vlm_backend"],
            "vlm_model": arg["vlm_model"], "journal_path": arg["journal_path"], "rviz": arg["rviz"],
            "use_sim_time": "true", "autostart": "false", "reliable_images": lossless,
            "frame_queue": PythonExpression(["1000 if ", lossless, " else 1"]),
        }.items(),
    )
    players, recorders = _player_and_recorder(arg)
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, (default, text) in ARGUMENTS.items()]
        + _bring_up(players) + [graph, *recorders]
    )
