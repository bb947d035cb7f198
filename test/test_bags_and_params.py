"""rosbag2 files with this package's messages, written and read with rosbags; parameter files through rclpy."""
from __future__ import annotations

import pytest
import samples
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from merge_ros.io.rostypes import typestore
from merge_ros.msg import EntityArray, Event, SceneState, Trigger
from merge_ros.ros import conversions


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_bag_with_custom_messages_and_images_reads_back_equal(tmp_path, storage):
    store = typestore()
    image = conversions.image_msg(samples.frame(), "bgr8", samples.STAMP_NS, "camera")
    msgs = [
        ("/camera/image_raw", "sensor_msgs/msg/Image", image),
        ("/entities", "merge_ros/msg/EntityArray", conversions.entity_frame_to_msg(samples.entity_frame())),
        ("/triggers", "merge_ros/msg/Trigger", conversions.trigger_to_msg(samples.trigger())),
        ("/events", "merge_ros/msg/Event", conversions.event_to_msg(samples.event())),
        ("/scene", "merge_ros/msg/SceneState", conversions.scene_to_msg(samples.scene())),
    ]
    path = tmp_path / "bag"
    with Writer(path, version=9, storage_plugin=storage) as writer:
        for i, (topic, msgtype, msg) in enumerate(msgs):
            conn = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(conn, samples.STAMP_NS + i, serialize_message(msg))  # rclpy's own CDR bytes
    types = {"/camera/image_raw": type(image), "/entities": EntityArray, "/triggers": Trigger, "/events": Event,
             "/scene": SceneState}
    with Reader(path) as reader:
        rows = [(conn.topic, t, raw) for conn, t, raw in reader.messages()]
        assert {c.topic: c.msgtype for c in reader.connections} == {t: m for t, m, _ in msgs}
    assert [t for _, t, _ in rows] == [samples.STAMP_NS + i for i in range(len(msgs))]
    for (topic, _, raw), (_, msgtype, msg) in zip(rows, msgs, strict=True):
        assert deserialize_message(raw, types[topic]) == msg
        decoded = store.deserialize_cdr(raw, msgtype)  # rosbags understands the same bytes
        assert decoded.header.stamp.sec == msg.header.stamp.sec
    entities = store.deserialize_cdr(rows[1][2], "merge_ros/msg/EntityArray").entities
    assert [e.id for e in entities] == ["person_1", "robot_1", "apple_1"]
    assert entities[0].keypoints[1].x == 150.0
    # and bytes serialised by rosbags are read by rclpy
    event = store.deserialize_cdr(rows[3][2], "merge_ros/msg/Event")
    assert deserialize_message(bytes(store.serialize_cdr(event, "merge_ros/msg/Event")), Event) == msgs[3][2]


def test_params_file_is_loaded_through_ros_args(tmp_path, ros_context):
    import rclpy
    from rclpy.context import Context

    params = tmp_path / "params.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    shared: 7\n"
        "probe:\n  ros__parameters:\n    model: yolo11n.pt\n    conf: 0.35\n    classes: [person, cup]\n"
    )
    context = Context()
    rclpy.init(args=["prog", "--ros-args", "--params-file", str(params)], context=context)
    try:
        node = rclpy.create_node("probe", context=context)
        node.declare_parameter("model", "default.pt")
        node.declare_parameter("conf", 0.5)
        node.declare_parameter("classes", ["x"])
        node.declare_parameter("shared", 1)
        node.declare_parameter("untouched", "kept")
        got = {n: node.get_parameter(n).value for n in ("model", "conf", "classes", "shared", "untouched")}
        assert got == {"model": "yolo11n.pt", "conf": 0.35, "classes": ["person", "cup"], "shared": 7,
                       "untouched": "kept"}
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
