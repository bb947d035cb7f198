"""launch_testing test of launch/merge.launch.py, run by `launch_test` as ROS packages run theirs (CMake's
add_launch_test): with autostart:=false the managed nodes start unconfigured, the lifecycle services bring them
to active, and at shutdown every process exits with code 0.

    launch_test test/launch/merge_lifecycle_launchtest.py params_file:=PARAMS

PARAMS: a parameter file (config/merge.yaml with perception's annotations_file set and identity.use_hint_ids
true), so that perception runs the annotations detector and loads no model at all. Named so that pytest does not
collect it (test_launch_testing.py runs it).
"""
import os
import time
import unittest

import launch
import launch_testing
import launch_testing.asserts
import launch_testing.markers
import rclpy
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState

MANAGED = ("perception_node", "vlm_node")
TIMEOUT_S = float(os.environ.get("MERGE_LAUNCH_TEST_TIMEOUT", "60"))


@launch_testing.markers.keep_alive
def generate_test_description():
    graph = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("merge_ros"), "launch",
                                                            "merge.launch.py"])),
        launch_arguments={"autostart": "false", "detector": "annotations", "rviz": "false",
                          "params_file": LaunchConfiguration("params_file")}.items())
    return launch.LaunchDescription([
        DeclareLaunchArgument("params_file", description="the graph's parameter file"),
        graph,
        launch_testing.actions.ReadyToTest(),
    ])


class TestManagedNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init(args=[])  # not sys.argv: launch_test leaves its name:=value arguments there
        cls.node = rclpy.create_node("lifecycle_launch_tester")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def call(self, srv_type, name: str, request):
        client = self.node.create_client(srv_type, name)
        try:
            self.assertTrue(client.wait_for_service(timeout_sec=TIMEOUT_S), f"{name} never appeared")
            future = client.call_async(request)
            rclpy.spin_until_future_complete(self.node, future, timeout_sec=TIMEOUT_S)
            self.assertTrue(future.done(), f"{name}: no answer")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def state(self, node: str) -> str:
        return self.call(GetState, f"/{node}/get_state", GetState.Request()).current_state.label

    def change(self, node: str, transition: int) -> bool:
        return self.call(ChangeState, f"/{node}/change_state",
                         ChangeState.Request(transition=Transition(id=transition))).success

    def test_unconfigured_at_start_then_brought_up_by_the_lifecycle_services(self, proc_output):
        for node in MANAGED:
            self.assertEqual(self.state(node), "unconfigured")
        for node in MANAGED:
            self.assertTrue(self.change(node, Transition.TRANSITION_CONFIGURE))
            self.assertEqual(self.state(node), "inactive")
            self.assertTrue(self.change(node, Transition.TRANSITION_ACTIVATE))
            self.assertEqual(self.state(node), "active")
        proc_output.assertWaitFor("detector annotations", timeout=TIMEOUT_S, stream="stderr")
        proc_output.assertWaitFor("vlm: backend none ready", timeout=TIMEOUT_S, stream="stderr")
        # the plain nodes run beside them
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and not {"event_node", "grounding_node"} <= set(self.node.get_node_names()):
            rclpy.spin_once(self.node, timeout_sec=0.1)
        self.assertLessEqual({"event_node", "grounding_node"}, set(self.node.get_node_names()))


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_process_exits_0(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_no_traceback(self, proc_output):
        for output in proc_output:
            self.assertNotIn("Traceback", output.text.decode(errors="replace"))
