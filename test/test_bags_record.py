"""Recorder over real DDS: topics discovered from the graph, QoS adapted to the publishers, bag time from header
stamps or receive time, --count / --duration / --type, and a bag that is valid after Ctrl-C of `merge-ros record`."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from rosutil import spin_until, wait_for_subscribers
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String

from merge_ros.ros import conversions
from merge_ros.ros.record import Recorder, RecordOptions

IMAGES = "/cam/image/compressed"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
STAMPS = [1_700_000_000_000_000_000 + i * 250_000_000 for i in range(5)]


def image(stamp_ns: int) -> CompressedImage:
    return CompressedImage(header=conversions.header(stamp_ns, "camera"), format="jpeg",
                           data=bytes([stamp_ns % 251] * 64))


def read_bag(path) -> tuple[dict, list]:
    with Reader(path) as reader:
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        rows = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
    return qos, rows


@pytest.fixture
def graph(ros_context):
    """A talker node and an executor; recorders created by the test are added to it."""
    talker = rclpy.create_node("talker", context=ros_context)
    executor = MultiThreadedExecutor(num_threads=2, context=ros_context)
    executor.add_node(talker)
    yield talker, executor
    executor.shutdown(timeout_sec=0)
    talker.destroy_node()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_records_header_stamps_in_order_and_latched_data_with_the_offered_qos(ros_context, graph, tmp_path,
                                                                             storage):
    talker, executor = graph
    images = talker.create_publisher(CompressedImage, IMAGES, 10)
    chatter = talker.create_publisher(String, "chatter", LATCHED)
    before_ns = time.time_ns()
    chatter.publish(String(data="latched before the recorder started"))
    recorder = Recorder(tmp_path / "rec", RecordOptions(topics=[IMAGES, "chatter"], storage=storage),
                        context=ros_context)
    executor.add_node(recorder)
    assert spin_until(executor, lambda: not recorder.waiting_for)
    assert wait_for_subscribers(executor, images)
    for stamp in STAMPS:
        images.publish(image(stamp))
    assert spin_until(executor, lambda: recorder.total == len(STAMPS) + 1)
    after_ns = time.time_ns()
    recorder.destroy_node()

    qos, rows = read_bag(tmp_path / "rec")
    frames = [(t, raw) for topic, t, raw in rows if topic == IMAGES]
    assert [t for t, _ in frames] == STAMPS
    assert [deserialize_message(raw, CompressedImage) for _, raw in frames] == [image(s) for s in STAMPS]
    (latched,) = [(t, raw) for topic, t, raw in rows if topic == "/chatter"]
    assert before_ns <= latched[0] <= after_ns  # no header: receive time
    assert deserialize_message(latched[1], String).data == "latched before the recorder started"
    assert qos[IMAGES][0].reliability == QosReliability.RELIABLE
    assert qos["/chatter"][0].durability == QosDurability.TRANSIENT_LOCAL


def test_receive_stamps_and_count_stop(ros_context, graph, tmp_path):
    talker, executor = graph
    images = talker.create_publisher(CompressedImage, IMAGES, 10)
    recorder = Recorder(tmp_path / "rec", RecordOptions(topics=[IMAGES], stamp="receive", count=3),
                        context=ros_context)
    executor.add_node(recorder)
    assert spin_until(executor, lambda: not recorder.waiting_for)
    assert wait_for_subscribers(executor, images)
    before_ns = time.time_ns()
    for stamp in STAMPS:
        images.publish(image(stamp))
    assert spin_until(executor, lambda: recorder.done)
    spin_until(executor, lambda: False, 0.2)  # the remaining two arrive and must not be written
    recorder.destroy_node()
    _, rows = read_bag(tmp_path / "rec")
    assert len(rows) == 3 and recorder.total == 3
    assert all(before_ns <= t <= time.time_ns() for _, t, _ in rows)
    assert [deserialize_message(raw, CompressedImage) for _, _, raw in rows] == [image(s) for s in STAMPS[:3]]


def test_a_given_type_subscribes_before_any_publisher(ros_context, graph, tmp_path):
    talker, executor = graph
    recorder = Recorder(tmp_path / "rec", RecordOptions(topics=["late"], types={"late": "std_msgs/msg/String"}),
                        context=ros_context)
    executor.add_node(recorder)
    assert recorder.waiting_for == []
    late = talker.create_publisher(String, "late", 10)
    assert wait_for_subscribers(executor, late)
    for i in range(3):
        late.publish(String(data=str(i)))
    assert spin_until(executor, lambda: recorder.total == 3)
    recorder.destroy_node()
    _, rows = read_bag(tmp_path / "rec")
    assert [deserialize_message(raw, String).data for _, _, raw in rows] == ["0", "1", "2"]


def test_duration_stops_and_leaves_a_valid_bag(ros_context, graph, tmp_path):
    _, executor = graph
    start = time.monotonic()
    recorder = Recorder(tmp_path / "rec", RecordOptions(topics=["silent"], duration=0.3), context=ros_context)
    executor.add_node(recorder)
    assert spin_until(executor, lambda: recorder.done, 5.0)
    assert time.monotonic() - start >= 0.3
    assert recorder.waiting_for == ["/silent"]
    recorder.destroy_node()
    qos, rows = read_bag(tmp_path / "rec")
    assert (qos, rows) == ({}, [])


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="no topic"):
        RecordOptions(topics=[])
    with pytest.raises(ValueError, match="stamp"):
        RecordOptions(topics=["a"], stamp="bag")
    with pytest.raises(ValueError, match="count"):
        RecordOptions(topics=["a"], count=0)
    with pytest.raises(ValueError, match="not recorded"):
        RecordOptions(topics=["a"], types={"b": "std_msgs/msg/String"})


def test_record_command_closes_a_valid_bag_on_ctrl_c(ros_context, graph, tmp_path):
    talker, executor = graph
    # A topic of its own (the graph may still list another test's latched /chatter publisher) and latched, so
    # that the recorder gets all four whichever side of discovery completes first.
    chatter = talker.create_publisher(String, "cli_chatter", QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    proc = subprocess.Popen([sys.executable, "-m", "merge_ros.cli", "record", "cli_chatter", "-o",
                             str(tmp_path / "rec"), "--storage", "sqlite3"], stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_subscribers(executor, chatter, timeout=20.0)
        for i in range(4):
            chatter.publish(String(data=f"hello {i}"))
            spin_until(executor, lambda: False, 0.02)
        spin_until(executor, lambda: False, 0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "4 message(s) (interrupted)" in err
    _, rows = read_bag(tmp_path / "rec")
    assert [deserialize_message(raw, String).data for _, _, raw in rows] == [f"hello {i}" for i in range(4)]
