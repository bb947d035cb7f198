"""Replayer over real DDS: every frame in order with its stamp, timing by --rate, /clock, QoS from the bag's
metadata (as rosbags writes it and in real rosbag2's Jazzy and Humble forms), bare .mcap files, malformed
messages skipped and counted."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import Writer
from rosgraph_msgs.msg import Clock
from rosutil import spin_until
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String
from test_bags_import import GROUND_TRUTH, make_scene, scene_frames

from merge_ros.io.bags import BagError, BagReader, TopicQos, offered_profile
from merge_ros.io.ground_import import import_scene
from merge_ros.io.rostypes import typestore
from merge_ros.ros.conversions import time_to_ns
from merge_ros.ros.replay import Replayer, ReplayOptions
from merge_ros.topics import BAG_IMAGE_TOPIC, BAG_REGISTRY_TOPICS, GROUND_TRUTH_TOPIC
from merge_ros.types import EntityKind

IMAGE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Listener(Node):
    """Test subscriber: keeps what arrives on the scene topics (and /clock), with the arrival time."""

    def __init__(self, context, image_topic: str = BAG_IMAGE_TOPIC, clock: bool = False):
        super().__init__("listener", context=context)
        self.frames: list[tuple[int, bytes, float]] = []  # (header stamp ns, data, arrival monotonic)
        self.registry: dict[str, set[str]] = {topic: set() for topic in BAG_REGISTRY_TOPICS.values()}
        self.ground_truth: list[str] = []
        self.clock: list[int] = []
        self.create_subscription(CompressedImage, image_topic, self._frame, IMAGE_QOS)
        for topic in BAG_REGISTRY_TOPICS.values():
            self.create_subscription(CompressedImage, topic, lambda m, t=topic: self.registry[t].add(m.header.frame_id),
                                     LATCHED_QOS)
        self.create_subscription(String, GROUND_TRUTH_TOPIC, lambda m: self.ground_truth.append(m.data), LATCHED_QOS)
        if clock:
            self.create_subscription(Clock, "/clock", lambda m: self.clock.append(time_to_ns(m.clock)),
                                     QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT))

    def _frame(self, msg: CompressedImage) -> None:
        self.frames.append((time_to_ns(msg.header.stamp), bytes(msg.data), time.monotonic()))


def play(context, bag, options: ReplayOptions, listener_kwargs=None, timeout: float = 15.0):
    """Run a Replayer and a Listener in one executor until the replay is done and its frames have arrived."""
    listener = Listener(context, **(listener_kwargs or {}))
    replayer = Replayer(bag, options, context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(listener)
    executor.add_node(replayer)
    replayer.start()
    try:
        image_topic = next((k for k in replayer.published if k == BAG_IMAGE_TOPIC), None)
        assert spin_until(executor, lambda: replayer.done and len(listener.frames) >= replayer.published.get(
            image_topic, 0), timeout)
        spin_until(executor, lambda: False, 0.1)  # let late latched messages land
    finally:
        replayer.destroy_node()
        listener.destroy_node()
        executor.shutdown(timeout_sec=0)
    return replayer, listener


@pytest.fixture
def scene(tmp_path):
    return make_scene(tmp_path / "scene")


def scene_bag(scene: Path, tmp_path: Path, storage: str = "mcap") -> Path:
    import_scene(scene, tmp_path / f"bag_{storage}", storage)
    return tmp_path / f"bag_{storage}"


def assert_whole_scene(listener: Listener, scene: Path) -> None:
    assert [(s, d) for s, d, _ in listener.frames] == scene_frames(scene)
    assert listener.registry == {BAG_REGISTRY_TOPICS[EntityKind.OBJECT]: {"cup_1", "bowl_2"},
                                 BAG_REGISTRY_TOPICS[EntityKind.PERSON]: {"person_1"},
                                 BAG_REGISTRY_TOPICS[EntityKind.ROBOT]: set()}
    assert [yaml.safe_load(t) for t in listener.ground_truth] == [GROUND_TRUTH]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_rate0_delivers_every_frame_in_order_with_stamps_and_the_registry(ros_context, scene, tmp_path, storage):
    bag = scene_bag(scene, tmp_path, storage)
    replayer, listener = play(ros_context, bag, ReplayOptions(rate=0, wait_subscribers=4))
    assert_whole_scene(listener, scene)
    assert replayer.published == {BAG_REGISTRY_TOPICS[EntityKind.OBJECT]: 2, BAG_REGISTRY_TOPICS[EntityKind.PERSON]: 1,
                                  GROUND_TRUTH_TOPIC: 1, BAG_IMAGE_TOPIC: 6}
    assert replayer.error is None and sum(replayer.malformed.values()) == 0


def test_rate_scales_the_bag_timing(ros_context, tmp_path, monkeypatch):
    scene = make_scene(tmp_path / "scene", frames=6, dt=0.2)  # 1.0 s of bag time
    bag = scene_bag(scene, tmp_path)
    # The wall-clock times the replayer schedules its messages for, and that it waits for each: read off its own
    # scheduler, since an OS stall of the replay thread (seen now and then on these machines) bunches deliveries.
    due_times: list[float] = []
    original = Replayer._sleep_until

    def recorded(self, due, first_ns, wall0):
        original(self, due, first_ns, wall0)
        assert time.monotonic() >= due  # never ahead of the schedule
        due_times.append(due - wall0)

    monkeypatch.setattr(Replayer, "_sleep_until", recorded)
    offsets = {}
    for rate in (1.0, 5.0):
        due_times.clear()
        _, listener = play(ros_context, bag, ReplayOptions(rate=rate, wait_subscribers=4))
        assert [s for s, _, _ in listener.frames] == [s for s, _ in scene_frames(scene)]
        offsets[rate] = sorted(set(round(d, 6) for d in due_times))
    assert offsets[1.0] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert offsets[5.0] == pytest.approx([x / 5 for x in offsets[1.0]])


def test_clock_carries_the_bag_time(ros_context, tmp_path):
    scene = make_scene(tmp_path / "scene", frames=4, dt=0.1)
    bag = scene_bag(scene, tmp_path)
    _, listener = play(ros_context, bag, ReplayOptions(rate=1.0, clock=True, clock_hz=50, wait_subscribers=4),
                       {"clock": True})
    stamps = [s for s, _ in scene_frames(scene)]
    assert len(listener.clock) >= 8  # 0.3 s at 50 Hz plus one per message
    assert listener.clock == sorted(listener.clock)
    assert stamps[0] <= listener.clock[0] and listener.clock[-1] == stamps[-1]
    assert set(stamps) <= set(listener.clock)


def test_malformed_message_is_skipped_and_counted_and_an_unknown_type_not_replayed(ros_context, tmp_path):
    scene = make_scene(tmp_path / "scene", frames=4)
    store = typestore()
    good = scene_bag(scene, tmp_path)
    bag = tmp_path / "with_garbage"
    with BagReader(good) as reader, Writer(bag, version=9) as writer:
        conn = writer.add_connection(BAG_IMAGE_TOPIC, "sensor_msgs/msg/CompressedImage", typestore=store,
                                     offered_qos_profiles=[offered_profile(TopicQos(reliable=False))])
        for i, msg in enumerate(reader.messages([BAG_IMAGE_TOPIC])):
            writer.write(conn, msg.timestamp_ns, msg.data)
            if i == 1:
                writer.write(conn, msg.timestamp_ns + 1, b"\x00\x01\x00\x00" + b"\xff" * 40)  # not a CompressedImage
        alien = writer.add_connection("/alien", "alien_msgs/msg/Thing", msgdef="int32 x", rihs01="RIHS01_" + "0" * 64)
        writer.write(alien, msg.timestamp_ns, b"\x00\x01\x00\x00\x07\x00\x00\x00")
    replayer, listener = play(ros_context, bag, ReplayOptions(rate=0, wait_subscribers=1))
    assert [(s, d) for s, d, _ in listener.frames] == scene_frames(scene)
    assert replayer.malformed == {BAG_IMAGE_TOPIC: 1}
    assert replayer.published == {BAG_IMAGE_TOPIC: 4}
    assert replayer.error is None
    assert "alien_msgs/msg/Thing is not available" in replayer.skipped_topics["/alien"]


JAZZY_QOS = """- history: unknown
  depth: 0
  reliability: {reliability}
  durability: {durability}
  deadline: {{sec: 9223372036, nsec: 854775807}}
  lifespan: {{sec: 9223372036, nsec: 854775807}}
  liveliness: automatic
  liveliness_lease_duration: {{sec: 9223372036, nsec: 854775807}}
  avoid_ros_namespace_conventions: false"""
HUMBLE_QOS = ("- history: 3\n  depth: 0\n  reliability: {reliability}\n  durability: {durability}\n  deadline:\n"
              "    sec: 9223372036\n    nsec: 854775807\n  lifespan:\n    sec: 9223372036\n    nsec: 854775807\n"
              "  liveliness: 1\n  liveliness_lease_duration:\n    sec: 9223372036\n    nsec: 854775807\n"
              "  avoid_ros_namespace_conventions: false")


def rewrite_as_real_rosbag2(bag: Path, distro: str) -> None:
    """Rewrite metadata.yaml the way rosbag2 itself writes it: Jazzy (version 9, QoS as a YAML list of names)
    or Humble (version 5, QoS as a YAML string of a list of numbers), infinite durations, no rosbags extras."""
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())
    info = meta["rosbag2_bagfile_information"]
    for entry in info["topics_with_message_count"]:
        topic = entry["topic_metadata"]
        latched = topic["name"] != BAG_IMAGE_TOPIC
        if distro == "jazzy":
            topic["offered_qos_profiles"] = yaml.safe_load(JAZZY_QOS.format(
                reliability="reliable" if latched else "best_effort",
                durability="transient_local" if latched else "volatile"))
        else:
            topic["offered_qos_profiles"] = HUMBLE_QOS.format(reliability=1 if latched else 2,
                                                              durability=1 if latched else 2)
            del topic["type_description_hash"]
    if distro == "jazzy":
        info.update(version=9, ros_distro="jazzy")
    else:
        info["version"] = 5
        for key in ("ros_distro", "custom_data"):
            info.pop(key)
    (bag / "metadata.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


@pytest.mark.parametrize("distro", ["jazzy", "humble"])
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_with_real_rosbag2_metadata_replays_with_its_qos(ros_context, scene, tmp_path, distro, storage):
    bag = scene_bag(scene, tmp_path, storage)
    rewrite_as_real_rosbag2(bag, distro)
    written = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    qos_field = written["topics_with_message_count"][0]["topic_metadata"]["offered_qos_profiles"]
    assert isinstance(qos_field, str if distro == "humble" else list)
    with BagReader(bag) as reader:  # the metadata's QoS no longer equals the storage's: still every message
        assert sum(1 for _ in reader.messages()) == 10
    listener = Listener(ros_context)
    replayer = Replayer(bag, ReplayOptions(rate=0, wait_subscribers=4), context=ros_context)
    offered = {}
    for topic in (BAG_IMAGE_TOPIC, BAG_REGISTRY_TOPICS[EntityKind.OBJECT]):
        info = [i for i in listener.get_publishers_info_by_topic(topic) if i.node_name == replayer.get_name()]
        offered[topic] = (info[0].qos_profile.reliability, info[0].qos_profile.durability)
    replayer.destroy_node()
    listener.destroy_node()
    assert offered == {BAG_IMAGE_TOPIC: (ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE),
                       BAG_REGISTRY_TOPICS[EntityKind.OBJECT]: (ReliabilityPolicy.RELIABLE,
                                                                DurabilityPolicy.TRANSIENT_LOCAL)}
    _, listener = play(ros_context, bag, ReplayOptions(rate=0, wait_subscribers=4))
    assert_whole_scene(listener, scene)


def test_bare_mcap_file_replays(ros_context, scene, tmp_path):
    bag = scene_bag(scene, tmp_path)
    (mcap,) = bag.glob("*.mcap")
    _, listener = play(ros_context, mcap, ReplayOptions(rate=0))  # default wait: 1 + all the graph knows
    assert_whole_scene(listener, scene)


def test_topic_filter_and_remap(ros_context, scene, tmp_path):
    bag = scene_bag(scene, tmp_path)
    options = ReplayOptions(rate=0, topics=[BAG_IMAGE_TOPIC], remap={BAG_IMAGE_TOPIC: "/cam2/image/compressed"})
    replayer, listener = play(ros_context, bag, options, {"image_topic": "/cam2/image/compressed"})
    assert [(s, d) for s, d, _ in listener.frames] == scene_frames(scene)
    assert replayer.published == {BAG_IMAGE_TOPIC: 6}
    assert listener.registry[BAG_REGISTRY_TOPICS[EntityKind.OBJECT]] == set()
    with pytest.raises(BagError, match="no topic /nope"):
        Replayer(bag, ReplayOptions(topics=["/nope"]), context=ros_context)


def test_without_subscribers_it_starts_after_the_wait_timeout(ros_context, scene, tmp_path):
    bag = scene_bag(scene, tmp_path)
    replayer = Replayer(bag, ReplayOptions(rate=0, wait_subscribers=1, wait_timeout=0.3), context=ros_context)
    replayer.start()
    try:
        assert replayer.wait(10.0)
    finally:
        replayer.destroy_node()
    assert replayer.waited_s >= 0.3
    assert sum(replayer.published.values()) == 10


@pytest.mark.parametrize("make", [lambda p: p / "nope", lambda p: p, lambda p: p / "file.txt"])
def test_what_is_not_a_bag_is_refused_clearly(ros_context, tmp_path, make):
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(BagError, match="bag"):
        Replayer(make(tmp_path), context=ros_context)


def has_open(pid: int, path: Path) -> bool:
    """Whether process pid holds path open (Linux: its /proc/PID/fd links)."""
    try:
        return any(Path(os.readlink(fd)) == path.resolve() for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process ended, or a descriptor closed while listed
        return False


def test_replay_command_stops_cleanly_on_ctrl_c(tmp_path):
    scene = make_scene(tmp_path / "scene", frames=60, dt=0.1)  # 6 s of bag time
    bag = scene_bag(scene, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "merge_ros.cli", "replay", str(bag), "--wait-subscribers", "0"],
                            stderr=subprocess.PIPE, text=True)
    # Interrupt it once it replays, however long its start-up takes on a loaded machine: it has the bag open then.
    (mcap,) = bag.glob("*.mcap")
    deadline = time.monotonic() + 60.0
    while not has_open(proc.pid, mcap) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    sent = int(re.search(r"interrupted after (\d+) message", err).group(1))
    assert 0 < sent < 63


# --- a recording whose recorder was killed -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def long_bag(tmp_path_factory):
    """A bag of 30 large frames (about 10 MB, so rosbags writes ten 1 MB chunks of 3 frames each), its scene, and the
    layout of its storage file as rosbags' own index gives it: (chunk start, chunk end, frames in it), data end."""
    from rosbags.rosbag2.storage_mcap import McapReader

    root = tmp_path_factory.mktemp("long")
    scene = make_scene(root / "scene", frames=30, size=(640, 480))  # noise compresses badly: ~360 kB a frame
    bag = scene_bag(scene, root)
    (mcap,) = bag.glob("*.mcap")
    reader = McapReader(mcap)
    reader.open()
    image = next(c.id for c in reader.connections if c.topic == BAG_IMAGE_TOPIC)
    chunks = [(c.chunk_start_offset, c.chunk_start_offset + c.chunk_length, c.channel_count.get(image, 0))
              for c in reader.chunks]
    data_end = reader.data_end
    reader.close()
    assert len(chunks) >= 5
    return scene, bag, chunks, data_end


def cut_copy(bag: Path, dest: Path, offset: int, keep_metadata: bool = True) -> Path:
    """A copy of the bag directory with its storage file cut at offset (and, as a killed recorder leaves it,
    without metadata.yaml unless keep_metadata)."""
    import shutil

    shutil.copytree(bag, dest)
    (mcap,) = dest.glob("*.mcap")
    with mcap.open("r+b") as f:
        f.truncate(offset)
    if not keep_metadata:
        (dest / "metadata.yaml").unlink()
    return dest


def frames_read(bag: Path) -> list[tuple[int, bytes]]:
    """(header stamp, JPEG bytes) of the bag's camera frames, in the order BagReader yields them."""
    from rclpy.serialization import deserialize_message

    with BagReader(bag) as reader:
        return [(time_to_ns((msg := deserialize_message(m.data, CompressedImage)).header.stamp), bytes(msg.data))
                for m in reader.messages([BAG_IMAGE_TOPIC])]


@pytest.mark.parametrize("where", ["inside a chunk", "between chunks", "inside the index", "one byte short"])
def test_a_bag_cut_short_reads_what_it_holds_and_says_where_it_ends(long_bag, tmp_path, caplog, where):
    scene, bag, chunks, data_end = long_bag
    size = next(bag.glob("*.mcap")).stat().st_size
    offset = {"inside a chunk": chunks[2][0] + 1000, "between chunks": chunks[3][0], "inside the index": data_end + 50,
              "one byte short": size - 1}[where]
    whole = sum(n for _, end, n in chunks if end <= offset)  # frames in the chunks the cut leaves whole
    with caplog.at_level("WARNING", logger="merge_ros.io.bags"):
        got = frames_read(cut_copy(bag, tmp_path / "cut", offset))
    assert got == scene_frames(scene)[:whole]
    [warning] = [r.getMessage() for r in caplog.records]
    if offset >= data_end:  # the data section is whole: only the index after it is lost
        with BagReader(bag) as intact:
            assert whole == 30 and "index is missing" in warning and f"its {intact.message_count} messages" in warning
        return
    assert 0 < whole < 30 and "cut short" in warning
    readable, size = (int(n) for n in re.search(r"records end at byte (\d+) of (\d+)", warning).groups())
    assert size == offset and max(end for _, end, _ in chunks if end <= offset) <= readable <= offset
    assert f"up to bag time {scene_frames(scene)[whole - 1][0] / 1e9:.3f}" in warning


def test_a_killed_recorders_bag_replays_over_dds_up_to_its_last_whole_chunk(ros_context, long_bag, tmp_path, caplog):
    """No metadata.yaml (written at close) and the storage file cut mid-chunk: replayed as far as it is whole."""
    scene, bag, chunks, _ = long_bag
    offset = chunks[4][0] + 5000
    cut = cut_copy(bag, tmp_path / "killed", offset, keep_metadata=False)
    with caplog.at_level("WARNING", logger="merge_ros.io.bags"):
        replayer, listener = play(ros_context, cut, ReplayOptions(rate=0, wait_subscribers=4))
    whole = sum(n for _, end, n in chunks if end <= offset)
    assert [(s, d) for s, d, _ in listener.frames] == scene_frames(scene)[:whole]
    assert replayer.published[BAG_IMAGE_TOPIC] == whole and replayer.error is None
    assert listener.registry[BAG_REGISTRY_TOPICS[EntityKind.PERSON]] == {"person_1"}  # written first: still there
    assert any("no metadata.yaml" in r.getMessage() for r in caplog.records)
    assert any("cut short" in r.getMessage() for r in caplog.records)


def test_a_bag_cut_before_its_first_chunk_holds_nothing_and_says_so(long_bag, tmp_path, caplog):
    _, bag, chunks, _ = long_bag
    with caplog.at_level("WARNING", logger="merge_ros.io.bags"):
        assert frames_read(cut_copy(bag, tmp_path / "early", chunks[0][0] + 100)) == []
    assert any("0 messages" in r.getMessage() for r in caplog.records)
    with pytest.raises(BagError, match="cut short before its first complete record"):
        BagReader(cut_copy(bag, tmp_path / "header", 20))
