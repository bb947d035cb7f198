"""perception_node's robot interfaces over DDS, each read with its real message type: a synthetic scene with
depth (colour, aligned 16UC1 depth and CameraInfo, published as a RealSense driver does: depth after its colour
frame) gives entities with 3-D positions equal to the offline path's, a /tf frame per located entity (and REP-155
body frames), Detection2DArray/Detection3DArray with the persistent IDs, and the REP-155 topics; what is gone is
no longer published. A missing message package turns only its own output off, with one log line."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosutil import spin_until, wait_for_subscribers
from sensor_msgs.msg import CameraInfo, Image

from merge_ros.msg import EntityArray
from merge_ros.offline import OfflineGraph, merged_sections, scene_frames
from merge_ros.ros import conversions
from merge_ros.ros.graph import bag_remap
from merge_ros.ros.perception_node import PerceptionNode
from merge_ros.ros.qos import LATCHED_QOS
from merge_ros.ros.standard_views import (
    UPRIGHT_FACING_CAMERA,
    BodyTracker,
    frame_name,
    name_token,
)
from merge_ros.synth import generate_scene
from merge_ros.topics import BAG_CAMERA_INFO_TOPIC, BAG_DEPTH_TOPIC, BAG_IMAGE_TOPIC, CAMERA_FRAME
from merge_ros.types import Box, Entity, EntityFrame, EntityKind, seconds_to_ns

ROOT = Path(__file__).resolve().parents[1]
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
BODY_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Two persons, a robot arm and objects, 6 frames at 5 fps, with depth."""
    return generate_scene(tmp_path_factory.mktemp("scene") / "scene", scenario="sorting", persons=2, robot=True,
                          seed=3, duration_s=1.2, fps=5.0, width=320, height=240)


def _overrides(scene) -> dict:
    """The scene's annotations as detections, with their IDs (registering its reference images would cost seconds
    of appearance embedding, and nothing here depends on it)."""
    return {"detector": "annotations", "annotations_file": str(scene.annotations_path), "identity.use_hint_ids": True,
            "use_depth": True, "frame_queue": 20, "reliable_images": True, "diagnostics_period": 0.0,
            "body_timeout_s": BODY_TIMEOUT_S}


def _node(context, overrides: dict, **kwargs) -> PerceptionNode:
    return PerceptionNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
                          **kwargs)


class Camera:
    """A test node publishing a scene as a depth camera driver does, and collecting what perception publishes."""

    def __init__(self, context, node: PerceptionNode):
        import rclpy
        from hri_msgs.msg import IdsList
        from tf2_msgs.msg import TFMessage
        from vision_msgs.msg import Detection2DArray, Detection3DArray

        self.node = node
        self.tester = rclpy.create_node("camera_driver", context=context)
        self.image_pub = self.tester.create_publisher(Image, "image", RELIABLE)
        self.depth_pub = self.tester.create_publisher(Image, "depth_registered/image_raw", RELIABLE)
        self.info_pub = self.tester.create_publisher(CameraInfo, "camera_info", RELIABLE)
        self.got: dict[str, list] = {}
        for name, msg_type, topic in [("entities", EntityArray, "entities"), ("tf", TFMessage, "/tf"),
                                      ("detections", Detection2DArray, "detections"),
                                      ("detections_3d", Detection3DArray, "detections_3d"),
                                      ("bodies", IdsList, "/humans/bodies/tracked"),
                                      ("persons", IdsList, "/humans/persons/tracked")]:
            self.listen(name, msg_type, topic)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.executor.add_node(self.tester)
        for pub in (self.image_pub, self.depth_pub, self.info_pub):
            assert wait_for_subscribers(self.executor, pub)
        outputs = [p for p in node.publishers if p.topic_name in ("/entities", "/tf", "/detections", "/detections_3d",
                                                                  "/humans/bodies/tracked", "/humans/persons/tracked")]
        assert len(outputs) == 6
        assert spin_until(self.executor, lambda: all(p.get_subscription_count() >= 1 for p in outputs))

    def listen(self, name: str, msg_type, topic: str, qos: QoSProfile = RELIABLE) -> None:
        self.got[name] = []
        self.tester.create_subscription(msg_type, topic, self.got[name].append, qos)

    def send(self, image: np.ndarray, depth_mm: np.ndarray, stamp_ns: int, camera) -> None:
        """Colour, then CameraInfo, then the aligned depth image: the order a driver's topics arrive in."""
        self.image_pub.publish(conversions.image_msg(image, "bgr8", stamp_ns, CAMERA_FRAME))
        self.info_pub.publish(conversions.camera_info_to_msg(camera, stamp_ns))
        spin_until(self.executor, lambda: False, timeout=0.02)
        self.depth_pub.publish(conversions.image_msg(depth_mm, "16UC1", stamp_ns, CAMERA_FRAME))

    def wait_entities(self, count: int) -> None:
        assert spin_until(self.executor, lambda: len(self.got["entities"]) >= count, timeout=15.0), \
            f"{len(self.got['entities'])} of {count} entity frames"

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.tester.destroy_node()


def _stamped(messages: list, stamp_ns: int):
    """The message of that stamp (header.stamp, or that of a TFMessage's first transform)."""
    for m in messages:
        h = m.transforms[0].header if hasattr(m, "transforms") else m.header
        if conversions.time_to_ns(h.stamp) == stamp_ns:
            return m
    return None


def test_a_depth_scene_gives_positions_tf_detections_and_rep155_over_dds(ros_context, scene):
    pytest.importorskip("hri_msgs.msg", reason="hri_msgs, tf2_msgs and vision_msgs are built by tools/setup.sh "
                                               "--ros-sources ../shared/ros2-jazzy")
    from hri_msgs.msg import NormalizedRegionOfInterest2D
    from std_msgs.msg import Bool, String

    camera = scene.camera_model(CAMERA_FRAME)
    frames = [(seconds_to_ns(stamp), cv2.imread(str(path))) for stamp, path in scene.frames()]
    depth_paths = scene.depth_frames()
    depths = [cv2.imread(str(depth_paths[stamp]), cv2.IMREAD_UNCHANGED) for stamp, _ in scene.frames()]
    cam = Camera(ros_context, _node(ros_context, _overrides(scene)))
    try:
        for k, ((stamp_ns, image), depth) in enumerate(zip(frames[:-1], depths[:-1], strict=True)):
            cam.send(image, depth, stamp_ns, camera)
            cam.wait_entities(k + 1)
        # the REP-155 per-ID topics, found from the tracked lists: latched ones give their value to a late subscriber
        bodies = cam.got["bodies"][-1].ids
        persons = cam.got["persons"][-1].ids
        assert len(bodies) == len(persons) == 2 and len(set(bodies)) == 2
        for person_id in persons:
            cam.listen(f"body_id {person_id}", String, f"/humans/persons/{person_id}/body_id", LATCHED_QOS)
            cam.listen(f"anonymous {person_id}", Bool, f"/humans/persons/{person_id}/anonymous", LATCHED_QOS)
        for body_id in bodies:
            cam.listen(f"roi {body_id}", NormalizedRegionOfInterest2D, f"/humans/bodies/{body_id}/roi")
        assert spin_until(cam.executor, lambda: all(cam.got[f"body_id {p}"] and cam.got[f"anonymous {p}"]
                                                    for p in persons))
        assert spin_until(cam.executor, lambda: all(cam.tester.get_subscriptions_info_by_topic(
            f"/humans/bodies/{b}/roi") and cam.tester.count_publishers(f"/humans/bodies/{b}/roi") for b in bodies))
        stamp_ns, image = frames[-1]
        cam.send(image, depths[-1], stamp_ns, camera)
        cam.wait_entities(len(frames))
        assert spin_until(cam.executor, lambda: all(cam.got[f"roi {b}"] for b in bodies))
        entity_frames = [conversions.entity_frame_from_msg(m) for m in cam.got["entities"]]
        assert cam.node.counters.depth_frames == len(frames) and cam.node.counters.depth_missing == 0
        assert spin_until(cam.executor, lambda: all(  # each topic is its own stream: wait until all have all frames
            _stamped(cam.got[name], stamp_ns) is not None for name in ("tf", "detections", "detections_3d", "bodies",
                                                                       "persons") for stamp_ns, _ in frames))

        # the entities and their positions are the offline path's, frame for frame (compared as sent: float32)
        offline = OfflineGraph(merged_sections(None, {"perception_node": _overrides(scene)}))
        assert offline.use_depth
        for (image, stamp_ns, depth, model), live in zip(scene_frames(scene, offline.use_depth), cam.got["entities"],
                                                          strict=True):
            entities = offline.process(image, stamp_ns, CAMERA_FRAME, depth, model)
            sent = deserialize_message(conversions.serialized(conversions.entity_frame_to_msg(entities)), EntityArray)
            assert sent == live
        located = [e for f in entity_frames for e in f.entities if e.position is not None]
        assert {e.kind for e in located} == set(EntityKind)  # persons, the robot and objects all have a position
        assert len(located) >= 0.8 * sum(len(f.entities) for f in entity_frames)

        person_body: dict[str, str] = {}
        for f in entity_frames:
            by_id = f.by_id()
            # REP-155: the persons tracked by their persistent IDs, each with one body, the same while tracked
            tracked = conversions.ids_from_msg(_stamped(cam.got["persons"], f.stamp_ns))
            people = [e for e in f.entities if e.kind == EntityKind.PERSON]
            assert tracked.ids == tuple(name_token(e.id) for e in people) and tracked.frame_id == CAMERA_FRAME
            tf = conversions.transforms_from_msg(_stamped(cam.got["tf"], f.stamp_ns))
            frames_tf = {t.child: t for t in tf}
            body_frames = {c for c in frames_tf if c.startswith("body_")}
            assert {c.removeprefix("body_") for c in body_frames} <= set(
                conversions.ids_from_msg(_stamped(cam.got["bodies"], f.stamp_ns)).ids)
            for e in people:
                if e.position is not None:
                    body = next(c for c in body_frames if frames_tf[c].translation == e.position)
                    assert person_body.setdefault(e.id, body) == body
            # TF: a frame per located entity, <kind>_<id> under the camera's optical frame, at its position
            assert set(frames_tf) - body_frames == {frame_name(e) for e in f.entities if e.position is not None}
            for e in f.entities:
                if e.position is not None:
                    t = frames_tf[frame_name(e)]
                    assert (t.parent, t.translation, t.rotation) == (CAMERA_FRAME, e.position, UPRIGHT_FACING_CAMERA)
            # vision_msgs: every entity in 2-D, the located ones in 3-D, by persistent ID and label
            d2 = conversions.detections_2d_from_msg(_stamped(cam.got["detections"], f.stamp_ns))
            assert [(d.id, d.class_id, d.score) for d in d2.detections] == [
                (e.id, e.label, pytest.approx(e.confidence)) for e in f.entities]
            assert all(_same_box(d.box, by_id[d.id].box) for d in d2.detections)
            d3 = conversions.detections_3d_from_msg(_stamped(cam.got["detections_3d"], f.stamp_ns))
            assert [(d.id, d.center) for d in d3.detections] == [(e.id, e.position) for e in f.entities
                                                                 if e.position is not None]
            assert all(s > 0 for d in d3.detections for s in d.size)
        assert "person_person_1" in {frame_name(e) for f in entity_frames for e in f.entities}
        for person_id in persons:  # the latched body_id is the body tracked; persons not registered are anonymous
            assert cam.got[f"body_id {person_id}"][-1].data == person_body[person_id].removeprefix("body_")
            assert cam.got[f"anonymous {person_id}"][-1].data is True
        last = entity_frames[-1]
        for body_id in bodies:
            roi = conversions.roi_from_msg(cam.got[f"roi {body_id}"][-1])
            person = next(e for e in last.entities if person_body.get(e.id) == f"body_{body_id}")
            assert (roi.stamp_ns, roi.frame_id) == (last.stamp_ns, CAMERA_FRAME)
            assert (roi.x_min, roi.y_max) == pytest.approx((person.box.x_min / 320, min(1.0, person.box.y_max / 240)),
                                                           abs=1e-6)

        # a frame without anyone, later than the body timeout: nobody tracked, no /tf, the per-ID topics go
        empty_ns = frames[-1][0] + seconds_to_ns(2 * BODY_TIMEOUT_S)
        cam.send(frames[-1][1], depths[-1], empty_ns, camera)
        cam.wait_entities(len(frames) + 1)
        assert spin_until(cam.executor, lambda: all(_stamped(cam.got[name], empty_ns) is not None
                                                    for name in ("bodies", "persons", "detections")))
        assert _stamped(cam.got["bodies"], empty_ns).ids == [] and _stamped(cam.got["persons"], empty_ns).ids == []
        assert _stamped(cam.got["detections"], empty_ns).detections == []
        assert _stamped(cam.got["tf"], empty_ns) is None
        assert spin_until(cam.executor, lambda: not any(
            cam.tester.count_publishers(f"/humans/bodies/{b}/roi") for b in bodies))
    finally:
        cam.close()


def _same_box(a: Box, b: Box) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-4) for x, y in zip(a.as_list(), b.as_list(), strict=True))  # float32 boxes


def _person(entity_id: str, track_id: int = -1, position=(0.0, 0.0, 2.0)) -> Entity:
    return Entity(entity_id, EntityKind.PERSON, "person", Box(10, 10, 50, 90), 0.9, track_id=track_id,
                  position=position)


def test_body_ids_follow_the_track_and_a_lost_body_comes_back_as_a_new_one():
    tracker = BodyTracker(timeout_s=1.0)

    def at(t: float, *persons: Entity) -> dict[str, str]:
        return tracker.update(EntityFrame(seconds_to_ns(t), CAMERA_FRAME, list(persons)))

    first = at(0.0, _person("person_1", 4), _person("alice"))
    assert len(set(first.values())) == 2
    assert all(len(b) == 5 and b.isalpha() and b.islower() for b in first.values())  # REP-155: short
    assert at(0.5, _person("person_1", 4)) == {"person_1": first["person_1"]}  # alice missed for a frame ...
    assert at(0.9, _person("alice"))["alice"] == first["alice"]  # ... and back within the timeout: the same body
    # the tracker gives person_1 a new track (its body is lost): a new body for the same person
    assert at(1.0, _person("person_1", 9))["person_1"] != first["person_1"]
    assert first["person_1"] not in at(1.6, _person("alice")).values() and first["person_1"] not in tracker.alive
    assert at(3.0, _person("alice"))["alice"] != first["alice"]  # unseen for longer than the timeout
    assert at(0.0, _person("alice"))["alice"] not in {first["alice"]}  # a replay started again: bodies are new


def test_names_are_kind_prefixed_ros_tokens_and_frames_stand_upright_facing_the_camera():
    from rclpy.validate_full_topic_name import validate_full_topic_name

    assert frame_name(_person("person_1")) == "person_person_1"
    assert frame_name(Entity("cup 2", EntityKind.OBJECT, "cup", Box(0, 0, 1, 1))) == "object_cup_2"
    assert frame_name(Entity("robot_1", EntityKind.ROBOT, "robot arm", Box(0, 0, 1, 1))) == "robot_robot_1"
    for odd in ("7", "Bob Smith", "é-1", ""):
        validate_full_topic_name(f"/humans/persons/{name_token(odd)}/body_id")  # raises for an invalid name
    assert name_token("person_1") == "person_1" and name_token("alice") == "alice"
    x, y, z, w = UPRIGHT_FACING_CAMERA
    rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                         [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                         [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    # columns: the frame's x points back at the camera, y to the image's right, z up the image (optical -y)
    assert np.allclose(rotation, [[0, 1, 0], [0, 0, -1], [-1, 0, 0]])


@pytest.mark.parametrize(("package", "output", "topic"), [("tf2_msgs", "tf", "/tf"),
                                                          ("vision_msgs", "detections", "/detections"),
                                                          ("hri_msgs", "hri", "/humans/persons/tracked")])
def test_a_missing_message_package_turns_only_its_output_off_with_one_log_line(ros_context, scene, monkeypatch,
                                                                              capfd, package, output, topic):
    for module in (package, f"{package}.msg"):  # as on a machine set up without it: the import fails
        monkeypatch.setitem(sys.modules, module, None)
    node = _node(ros_context, _overrides(scene))
    try:
        published = {pub.topic_name for pub in node.publishers}
        assert topic not in published and "/entities" in published
        assert set(node._outputs.off) == {output}
        all_outputs = {"/tf", "/detections", "/detections_3d", "/humans/bodies/tracked", "/humans/persons/tracked"}
        others = all_outputs - {topic} - ({"/detections_3d"} if output == "detections" else set()) - (
            {"/humans/bodies/tracked"} if output == "hri" else set())
        assert others <= published
        lines = [line for line in capfd.readouterr().err.splitlines() if f"{package} is not installed" in line]
        assert len(lines) == 1 and " off;" in lines[0] and "rosdep install" in lines[0]
    finally:
        node.destroy_node()


def test_the_graph_topics_follow_the_namespace_and_rep155_stays_absolute_unless_made_relative(ros_context, scene):
    for prefix, humans in (("/humans", "/humans"), ("humans", "/robot1/humans")):
        node = _node(ros_context, {**_overrides(scene), "hri_prefix": prefix}, namespace="robot1")
        try:
            assert set(node._outputs.topics) == {"/tf", "/robot1/detections", "/robot1/detections_3d",
                                                 f"{humans}/bodies/tracked", f"{humans}/persons/tracked"}
        finally:
            node.destroy_node()
    with pytest.raises(ValueError, match="parameter 'hri_prefix'"):
        _node(ros_context, {**_overrides(scene), "hri_prefix": "/humans/1st"})
    # a recording's depth camera reaches perception in the namespace too (merge-ros run --bag, the demo's replay)
    assert bag_remap("robot1") == {BAG_IMAGE_TOPIC: "/robot1/image/compressed",
                                   BAG_DEPTH_TOPIC: "/robot1/depth_registered/image_raw",
                                   BAG_CAMERA_INFO_TOPIC: "/robot1/camera_info"}


def _launch_file():
    """launch/merge.launch.py as a module (it needs launch and launch_ros: tools/setup.sh --ros-sources)."""
    import importlib.util

    pytest.importorskip("launch_ros", reason="launch_ros is built by tools/setup.sh --ros-sources ../shared/ros2-jazzy")
    spec = importlib.util.spec_from_file_location("merge_launch", ROOT / "launch" / "merge.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rviz_and_foxglove_configs_follow_the_namespace():
    launch_file = _launch_file()
    rviz = (ROOT / "config" / "merge.rviz").read_text()
    moved = launch_file.namespaced_rviz(rviz, "/robot1")
    changed = [(a.strip(), b.strip()) for a, b in zip(rviz.splitlines(), moved.splitlines(), strict=True) if a != b]
    assert changed == [("Value: /markers", "Value: /robot1/markers"), ("Value: /debug_image",
                                                                        "Value: /robot1/debug_image")]
    layout = json.loads((ROOT / "config" / "merge.foxglove.json").read_text())
    panels = launch_file.namespaced_foxglove(layout, "/robot1")["configById"]
    assert set(panels["3D!merge_scene"]["topics"]) == {"/robot1/markers"}
    assert panels["3D!merge_scene"]["followTf"] == "camera"  # frames are no topics
    assert panels["Image!merge_debug_image"]["imageMode"]["imageTopic"] == "/robot1/debug_image"
    assert panels["RawMessages!merge_events"]["topicPath"] == "/robot1/events"
    assert panels["3D!merge_scene"]["publish"]["pointTopic"] == "/clicked_point"  # not one of the graph's
    assert launch_file.namespaced_foxglove({"p": "/events.actor_id"}, "/r") == {"p": "/r/events.actor_id"}


def test_the_launch_file_opens_the_namespaced_copies():
    from launch import LaunchContext

    launch_file = _launch_file()
    context = LaunchContext()
    context.launch_configurations.update({"rviz": "true", "foxglove": "true", "use_sim_time": "false",
                                          "ros_namespace": "/robot1"})
    actions = launch_file._visualizers(context)
    rviz_node = next(a for a in actions if getattr(a, "node_executable", "") == "rviz2")
    tokens = ["".join(s.text for s in token if hasattr(s, "text")) for token in rviz_node.cmd]  # the literal ones
    config = Path(tokens[tokens.index("-d") + 1])
    assert config.is_file() and "Value: /robot1/markers" in config.read_text()
    log = next(a for a in actions if hasattr(a, "msg"))  # where the Foxglove layout for this namespace is
    layout = config.parent / "merge.foxglove.json"
    assert str(layout) in "".join(s.perform(context) for s in log.msg) and "/robot1/events" in layout.read_text()
    assert any(getattr(a, "node_executable", "") == "foxglove_bridge" for a in actions)
    context.launch_configurations.update({"rviz": "false", "foxglove": "false"})
    assert launch_file._visualizers(context) == []
