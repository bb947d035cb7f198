"""perception_node over DDS with the annotations detector: every image encoding and CompressedImage in, the
annotated entities out with the frame's header; odd frames are logged and counted, and the node keeps going;
only the newest frame is processed. With use_depth, an aligned depth image (16UC1 or 32FC1) and CameraInfo give
positions; unusable or missing depth is counted and logged, and the frame goes without."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import samples
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosutil import spin_until, wait_for_subscribers
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from merge_ros.io.annotations import AnnotatedFrame, write_annotations
from merge_ros.msg import EntityArray
from merge_ros.params import ParameterError
from merge_ros.perception.depth import DEPTH_ENCODINGS, CameraModel, DepthFrame
from merge_ros.ros import conversions
from merge_ros.ros.perception_node import DepthSync, PerceptionNode
from merge_ros.ros.qos import IMAGE_QOS
from merge_ros.types import Box, Entity, EntityFrame, EntityKind, Keypoint, ns_to_seconds

W, H = 64, 48
BGR = samples.frame(W, H)
GRAY = cv2.cvtColor(BGR, cv2.COLOR_BGR2GRAY)
T0 = 1_700_000_000_000_000_000
PERIOD = 100_000_000  # 10 fps
N_FRAMES = 40


def stamp(i: int) -> int:
    return T0 + i * PERIOD


def annotated(i: int) -> list[Entity]:
    return [Entity("person_1", EntityKind.PERSON, "person", Box(2.0 + i % 5, 3.0, 30.0, 46.0), 0.9,
                   [Keypoint("left_wrist", 5.0, 30.0, 0.8), Keypoint("right_wrist", 26.0, 31.0, 0.6)], track_id=3),
            Entity("cup_1", EntityKind.OBJECT, "cup", Box(40.0, 30.0, 52.0, 44.0), 0.7, track_id=5)]


@pytest.fixture
def annotations_file(tmp_path):
    path = tmp_path / "annotations.jsonl"
    write_annotations(path, [AnnotatedFrame(ns_to_seconds(stamp(i)), "", annotated(i)) for i in range(N_FRAMES)])
    return path


def param(name: str, value) -> Parameter:
    if isinstance(value, list):
        return Parameter(name, Parameter.Type.STRING_ARRAY, value)
    return Parameter(name, value=value)


class Harness:
    """perception_node plus a test node that publishes frames and collects the published entities."""

    def __init__(self, context, overrides: dict, image_type=Image):
        import rclpy

        self.node = PerceptionNode(context=context, parameter_overrides=[param(k, v) for k, v in overrides.items()])
        self.tester = rclpy.create_node("perception_tester", context=context)
        topic = "image/compressed" if image_type is CompressedImage else "image"
        self.pub = self.tester.create_publisher(image_type, topic, IMAGE_QOS)
        self.received: list[EntityArray] = []
        self.tester.create_subscription(EntityArray, "entities", self.received.append,
                                        QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        self.logs: list[Log] = []
        self.tester.create_subscription(Log, "/rosout", self.logs.append,
                                        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                                   durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.tester)
        assert wait_for_subscribers(self.executor, self.pub)
        assert spin_until(self.executor, lambda: self.tester.count_publishers("entities") >= 1)

    def send(self, msg, timeout: float = 10.0) -> EntityArray:
        """Publish until the entities of this frame come back (best effort may drop one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pub.publish(msg)
            if spin_until(self.executor, lambda: self._for(msg) is not None, timeout=1.0):
                return self._for(msg)
        raise AssertionError(f"no entities for the frame stamped {conversions.time_to_ns(msg.header.stamp)}")

    def _for(self, msg) -> EntityArray | None:
        return next((r for r in self.received if r.header.stamp == msg.header.stamp), None)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.tester.destroy_node()


@pytest.fixture
def make_harness(ros_context):
    made = []

    def make(overrides: dict, image_type=Image) -> Harness:
        made.append(Harness(ros_context, overrides, image_type))
        return made[-1]

    yield make
    for h in made:
        h.close()


class FrameRecorder:
    """Test double around the node's real detector: remembers the decoded frames, optionally slows down."""

    def __init__(self, inner, delay_s: float = 0.0):
        self.inner, self.delay_s, self.frames = inner, delay_s, []

    def detect(self, frame, stamp_ns):
        self.frames.append(frame.copy())
        time.sleep(self.delay_s)
        return self.inner.detect(frame, stamp_ns)


def _yuv422(code: int) -> np.ndarray:
    return cv2.cvtColor(BGR, code)


def _bayer(pattern: str) -> np.ndarray:
    """Mosaic of BGR in the given 2x2 pattern (rggb: R at even rows/columns)."""
    channel = {"r": 2, "g": 1, "b": 0}
    out = np.empty((H, W), np.uint8)
    for k, ch in enumerate(pattern):
        dy, dx = divmod(k, 2)
        out[dy::2, dx::2] = BGR[dy::2, dx::2, channel[ch]]
    return out


def _scaled16(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a 16-bit frame becomes: its used range scaled to 8 bits."""
    wide = img.astype(np.uint16) * 200
    return wide, (wide.astype(np.float32) * (255.0 / wide.max())).astype(np.uint8)


def _cases() -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """(encoding, array in that encoding, expected BGR, allowed mean absolute difference)."""
    gray_bgr = cv2.cvtColor(GRAY, cv2.COLOR_GRAY2BGR)
    mono16, mono16_8 = _scaled16(GRAY)
    bgr16, bgr16_8 = _scaled16(BGR)
    return [
        ("bgr8", BGR, BGR, 0), ("rgb8", BGR[:, :, ::-1].copy(), BGR, 0), ("8UC3", BGR, BGR, 0),
        ("bgra8", cv2.cvtColor(BGR, cv2.COLOR_BGR2BGRA), BGR, 0),
        ("rgba8", cv2.cvtColor(BGR, cv2.COLOR_BGR2RGBA), BGR, 0),
        ("mono8", GRAY, gray_bgr, 0), ("8UC1", GRAY, gray_bgr, 0),
        ("mono16", mono16, cv2.cvtColor(mono16_8, cv2.COLOR_GRAY2BGR), 0),
        ("16UC1", mono16, cv2.cvtColor(mono16_8, cv2.COLOR_GRAY2BGR), 0),
        ("bgr16", bgr16, bgr16_8, 0), ("rgb16", bgr16[:, :, ::-1].copy(), bgr16_8, 0),
        ("uyvy", _yuv422(cv2.COLOR_BGR2YUV_UYVY), BGR, 8), ("yuv422", _yuv422(cv2.COLOR_BGR2YUV_UYVY), BGR, 8),
        ("yuyv", _yuv422(cv2.COLOR_BGR2YUV_YUYV), BGR, 8), ("yuv422_yuy2", _yuv422(cv2.COLOR_BGR2YUV_YUYV), BGR, 8),
        *[(f"bayer_{p}8", _bayer(p), BGR, 12) for p in ("rggb", "bggr", "gbrg", "grbg")],
    ]


def _raw_msg(encoding: str, array: np.ndarray, stamp_ns: int) -> Image:
    if encoding.startswith("bayer"):  # conversions.image_msg writes only the non-mosaic encodings
        return Image(header=conversions.header(stamp_ns, "camera"), height=H, width=W, encoding=encoding,
                     is_bigendian=0, step=W, data=array.tobytes())
    return conversions.image_msg(array, encoding, stamp_ns, "camera")


def _check_entities(msg: EntityArray, i: int, frame_id: str = "camera") -> None:
    frame = conversions.entity_frame_from_msg(msg)
    assert frame.stamp_ns == stamp(i) and frame.frame_id == frame_id
    got = sorted(frame.entities, key=lambda e: e.label)
    want = sorted(annotated(i), key=lambda e: e.label)
    assert [(e.kind, e.label, e.box, e.track_id) for e in got] == [(e.kind, e.label, e.box, e.track_id) for e in want]
    person = got[1]
    assert [(k.name, k.x, k.y) for k in person.keypoints] == [("left_wrist", 5.0, 30.0), ("right_wrist", 26.0, 31.0)]
    assert person.id and got[0].id and person.id != got[0].id


def test_every_image_encoding_reaches_the_detector_as_bgr_and_entities_come_back(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file)})
    recorder = h.node.pipeline.detector = FrameRecorder(h.node.pipeline.detector)
    ids = set()
    for i, (encoding, array, expected, tolerance) in enumerate(_cases()):
        out = h.send(_raw_msg(encoding, array, stamp(i)))
        _check_entities(out, i)
        ids.add(tuple(sorted(e.id for e in out.entities)))
        frame = recorder.frames[-1]
        assert frame.shape == (H, W, 3) and frame.dtype == np.uint8, encoding
        diff = np.abs(frame.astype(int) - expected.astype(int)).mean()
        assert diff <= tolerance, f"{encoding}: mean difference {diff:.2f}"
    assert len(ids) == 1  # the same two instances keep their persistent IDs over all frames
    # every frame that arrived was processed (a slow answer makes send() publish a frame again)
    assert h.node.counters.bad == 0 and h.node.counters.processed == h.node.counters.received >= len(_cases())


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_images(make_harness, annotations_file, fmt):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file), "compressed": True,
                      "frame_id": "table_camera"}, CompressedImage)
    recorder = h.node.pipeline.detector = FrameRecorder(h.node.pipeline.detector)
    for i in range(3):
        out = h.send(conversions.compressed_msg(BGR, stamp(i), "camera", fmt))
        _check_entities(out, i, frame_id="table_camera")
    diff = np.abs(recorder.frames[-1].astype(int) - BGR.astype(int)).mean()
    assert diff <= (0 if fmt == "png" else 4)


def _odd_frames() -> list[tuple[Image | CompressedImage, str]]:
    header = conversions.header(stamp(1), "camera")
    return [
        (Image(header=header, width=0, height=0, encoding="bgr8", step=0, data=b""), "empty image"),
        (Image(header=header, width=W, height=H, encoding="bgr8", step=W * 3, data=BGR.tobytes()[:500]), "truncated"),
        (Image(header=header, width=W, height=H, encoding="hsv42", step=W * 3, data=BGR.tobytes()),
         "unsupported encoding"),
        (Image(header=header, width=100_000, height=100_000, encoding="bgr8", step=300_000, data=b"\0" * 64),
         "too large"),
        (Image(header=header, width=W, height=H, encoding="rgb8", step=W, data=BGR.tobytes()), "step"),
    ]


def test_odd_frames_are_logged_counted_and_skipped(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file)})
    for k, (msg, reason) in enumerate(_odd_frames(), 1):
        h.pub.publish(msg)
        assert spin_until(h.executor, lambda k=k: h.node.counters.bad >= k, timeout=5.0), reason
        assert reason in h.node.last_error
    assert h.received == [] and h.node.counters.processed == 0
    # the first one was logged (later ones within the throttle period are only counted)
    assert spin_until(h.executor, lambda: any("bad frame skipped" in m.msg and "empty image" in m.msg
                                              for m in h.logs if m.name == "perception_node"), timeout=5.0)
    _check_entities(h.send(_raw_msg("bgr8", BGR, stamp(2))), 2)  # and the node still works
    assert h.node.counters.bad == len(_odd_frames())


def test_compressed_garbage_is_skipped(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file), "compressed": True},
                     CompressedImage)
    for k, data in enumerate([b"", b"definitely not a jpeg"], 1):
        h.pub.publish(CompressedImage(header=conversions.header(stamp(0), "camera"), format="jpeg", data=data))
        assert spin_until(h.executor, lambda k=k: h.node.counters.bad >= k, timeout=5.0)
    assert "compressed image" in h.node.last_error
    _check_entities(h.send(conversions.compressed_msg(BGR, stamp(1), "camera", "png")), 1)


def test_a_slow_pipeline_processes_the_newest_frame_and_counts_the_skipped(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file)})
    h.node.pipeline.detector = FrameRecorder(h.node.pipeline.detector, delay_s=0.3)
    sent = 8
    for i in range(sent):
        h.pub.publish(_raw_msg("bgr8", BGR, stamp(i)))
        spin_until(h.executor, lambda: False, timeout=0.05)
    c = h.node.counters
    assert spin_until(h.executor, lambda: c.received > 0 and c.processed + c.skipped == c.received
                      and len(h.received) == c.processed and not h.node._pending, timeout=10.0)
    assert c.skipped >= 2 and c.processed < c.received
    stamps = [conversions.time_to_ns(m.header.stamp) for m in h.received]
    assert stamps == sorted(stamps) and stamps[-1] == stamp(sent - 1)  # the newest frame is never the one dropped


def test_a_frame_queue_processes_every_frame_in_order(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file), "frame_queue": 10})
    h.node.pipeline.detector = FrameRecorder(h.node.pipeline.detector, delay_s=0.1)
    sent = 6
    for i in range(sent):
        h.pub.publish(_raw_msg("bgr8", BGR, stamp(i)))
        spin_until(h.executor, lambda: False, timeout=0.02)
    assert spin_until(h.executor, lambda: len(h.received) == sent, timeout=10.0)
    assert [conversions.time_to_ns(m.header.stamp) for m in h.received] == [stamp(i) for i in range(sent)]
    assert h.node.counters.skipped == 0


def test_diagnostics_report_the_counters(make_harness, annotations_file):
    from diagnostic_msgs.msg import DiagnosticArray

    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file),
                      "diagnostics_period": 0.2})
    got: list[DiagnosticArray] = []
    h.tester.create_subscription(DiagnosticArray, "diagnostics", got.append, 10)
    h.pub.publish(_odd_frames()[1][0])
    assert spin_until(h.executor, lambda: h.node.counters.bad == 1, timeout=5.0)
    h.send(_raw_msg("bgr8", BGR, stamp(3)))

    def values() -> dict[str, str]:
        return {kv.key: kv.value for kv in got[-1].status[0].values} if got else {}

    assert spin_until(h.executor, lambda: values().get("processed") == "1" and values().get("bad") == "1", 5.0)
    assert {"received", "skipped", "failed", "fps", "detect_ms", "identity_ms"} <= set(values())


def test_bad_parameters_fail_construction_with_the_parameters_name(ros_context, annotations_file):
    with pytest.raises(ParameterError, match="parameter 'annotations_file'"):
        PerceptionNode(context=ros_context, parameter_overrides=[param("detector", "annotations"),
                                                                 param("annotations_file", "/no/such.jsonl")])
    with pytest.raises(ParameterError, match="parameter 'model'"):
        PerceptionNode(context=ros_context, parameter_overrides=[param("model", "/no/such/model.pt")])


def test_destroy_stops_the_worker(ros_context, annotations_file):
    node = PerceptionNode(context=ros_context, parameter_overrides=[
        param("detector", "annotations"), param("annotations_file", str(annotations_file))])
    worker = node._worker
    assert worker.is_alive()
    node.destroy_node()
    assert not worker.is_alive()
    assert not any(t.name == "perception_worker" and t is worker for t in threading.enumerate())


ROOT = Path(__file__).resolve().parents[1]


def _start(args: list[str], tmp_path) -> subprocess.Popen:
    env = {**os.environ, "ROS_HOME": str(tmp_path / "ros_home"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "perception_node"), "--ros-args",
                             "--params-file", str(ROOT / "config" / "merge.yaml"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_the_executable_runs_with_the_parameter_file_and_stops_cleanly_on_sigint(ros_context, tmp_path,
                                                                                 annotations_file):
    import rclpy

    proc = _start(["-p", "detector:=annotations", "-p", f"annotations_file:={annotations_file}"], tmp_path)
    try:
        tester = rclpy.create_node("perception_process_tester", context=ros_context)
        executor = SingleThreadedExecutor(context=ros_context)
        executor.add_node(tester)
        pub = tester.create_publisher(Image, "image", IMAGE_QOS)
        received: list[EntityArray] = []
        tester.create_subscription(EntityArray, "entities", received.append, 10)
        assert wait_for_subscribers(executor, pub, timeout=30.0), "the node process never subscribed"
        msg = _raw_msg("bgr8", BGR, stamp(4))
        for _ in range(20):
            pub.publish(msg)
            if spin_until(executor, lambda: bool(received), timeout=0.5):
                break
        _check_entities(received[0], 4)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out


def test_the_executable_reports_a_missing_model_by_its_parameter(tmp_path):
    proc = _start(["-p", "model:=/no/such/model.pt"], tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "parameter 'model': model file '/no/such/model.pt' does not exist" in out
    assert "Traceback" not in out


def test_parameters_are_declared_with_descriptions_and_ranges(ros_context, annotations_file):
    from merge_ros.perception.parameters import PERCEPTION_PARAMETERS

    node = PerceptionNode(context=ros_context, parameter_overrides=[
        param("detector", "annotations"), param("annotations_file", str(annotations_file)),
        param("robot_classes", ["robot arm"]), param("identity.match_similarity", 0.7)])
    try:
        for name, spec in PERCEPTION_PARAMETERS.items():
            assert node.describe_parameter(name).description == spec.description
        assert node.describe_parameter("detector").additional_constraints == "one of: ultralytics, annotations"
        conf = node.describe_parameter("conf").floating_point_range[0]
        assert (conf.from_value, conf.to_value) == (0.0, 1.0)
        assert node.describe_parameter("max_det").integer_range[0].to_value == 1000
        assert node.describe_parameter("identity.gallery_size").integer_range
        assert node.get_parameter("classes").value == [] and node.get_parameter("robot_classes").value == ["robot arm"]
        assert node.pipeline.identity.config.match_similarity == 0.7
        assert not node.set_parameters([Parameter("conf", value=1.5)])[0].successful  # out of range
        refused = node.set_parameters([Parameter("conf", value=0.5)])[0]  # in range, but read at configure only
        assert not refused.successful and "cleanup" in refused.reason
        assert node.set_parameters([Parameter("use_sim_time", value=True)])[0].successful
    finally:
        node.destroy_node()


# --- depth (use_depth) -------------------------------------------------------------------------------------------
CAMERA = CameraModel(W, H, (50.0, 0.0, 31.5, 0.0, 50.0, 23.5, 0.0, 0.0, 1.0), frame_id="camera")
DEPTH_MM = np.full((H, W), 1500, np.uint16)  # a wall 1.5 m away, and everything on it


class DepthCamera:
    """Publishers of a depth camera's other topics, beside the harness's colour one."""

    def __init__(self, h: Harness):
        self.h = h
        self.depth_pub = h.tester.create_publisher(Image, "depth_registered/image_raw", IMAGE_QOS)
        self.info_pub = h.tester.create_publisher(CameraInfo, "camera_info", IMAGE_QOS)
        assert wait_for_subscribers(h.executor, self.depth_pub) and wait_for_subscribers(h.executor, self.info_pub)

    def send(self, i: int, depth: Image | None, info: CameraInfo | None = None) -> EntityFrame:
        """Frame i with that depth image and camera info (as a driver publishes them: after the colour frame)."""
        msg = _raw_msg("bgr8", BGR, stamp(i))

        def publish_all() -> None:
            self.h.pub.publish(msg)
            self.info_pub.publish(info or conversions.camera_info_to_msg(CAMERA, stamp(i)))
            if depth is not None:
                self.depth_pub.publish(depth)

        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            publish_all()
            if spin_until(self.h.executor, lambda: self.h._for(msg) is not None, timeout=1.0):
                return conversions.entity_frame_from_msg(self.h._for(msg))
        raise AssertionError(f"no entities for frame {i}")


def _depth_msg(i: int, values: np.ndarray = DEPTH_MM, encoding: str = "16UC1") -> Image:
    if encoding not in DEPTH_ENCODINGS:  # not a depth image at all
        return conversions.image_msg(values, encoding, stamp(i), "camera")
    return conversions.depth_to_msg(DepthFrame.from_array(values, encoding, stamp(i), "camera"))


def test_aligned_depth_gives_positions_in_millimetres_and_metres(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file), "use_depth": True})
    cam = DepthCamera(h)
    metres = DEPTH_MM.astype(np.float32) / 1000.0
    for i, depth in enumerate([_depth_msg(0), _depth_msg(1, metres, "32FC1"), _depth_msg(2), _depth_msg(3, metres,
                                                                                                     "32FC1")]):
        frame = cam.send(i, depth)
        cup = next(e for e in frame.entities if e.label == "cup")
        # the cup's centre: on its box centre's ray, behind the 1.5 m surface the camera sees
        assert cup.position is not None and 1.5 < cup.position[2] < 1.7
        assert cup.position[0] == pytest.approx((46.0 - 0.5 - 31.5) / 50.0 * cup.position[2], abs=0.02)
    assert h.node.counters.depth_frames >= 4 and h.node.counters.depth_bad == 0


def test_bad_or_missing_depth_is_counted_logged_once_and_the_frame_goes_without(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file), "use_depth": True})
    cam = DepthCamera(h)
    zero_k = conversions.camera_info_to_msg(CAMERA, stamp(2))
    zero_k.k = [0.0] * 9
    bad = [(_depth_msg(0, GRAY, "mono8"), None, "encoding 'mono8'"),
           (_depth_msg(1, DEPTH_MM[:24, :32]), None, "must have the same size"),
           (_depth_msg(2), zero_k, "positive fx and fy")]
    for k, (depth, info, reason) in enumerate(bad):
        frame = cam.send(k, depth, info)
        assert all(e.position is None for e in frame.entities) and len(frame.entities) == 2  # processed all the same
        assert h.node.counters.depth_bad == k + 1 and reason in h.node.last_error
    assert spin_until(h.executor, lambda: any("bad depth skipped" in m.msg for m in h.logs), timeout=5.0)
    assert sum("bad depth skipped" in m.msg for m in h.logs) == 1  # once: the rest within the throttle period
    # another frame's depth image only (not within depth_tolerance_s of this one): without depth, counted
    assert all(e.position is None for e in cam.send(3, _depth_msg(9)).entities)
    assert h.node.counters.depth_missing >= 1 and h.node.counters.depth_frames == 0
    assert any(e.position for e in cam.send(4, _depth_msg(4)).entities)  # and depth works again
    assert h.node.counters.depth_frames >= 1


def test_without_use_depth_there_is_no_depth_subscription(make_harness, annotations_file):
    h = make_harness({"detector": "annotations", "annotations_file": str(annotations_file)})
    assert h.node.params["use_depth"] is False
    topics = {sub.topic_name for sub in h.node.subscriptions}
    assert "/image" in topics and not {"/depth_registered/image_raw", "/camera_info"} & topics
    assert all(e.position is None for e in conversions.entity_frame_from_msg(h.send(_raw_msg("bgr8", BGR,
                                                                                               stamp(0)))).entities)


def test_depth_sync_takes_the_nearest_image_within_the_tolerance_and_forgets_older_ones():
    sync = DepthSync(keep=8, tolerance_s=0.02, wait_s=5.0, has_source=lambda: True)
    sync.add_info(conversions.camera_info_to_msg(CAMERA))
    for i in (0, 1, 2):
        sync.add_depth(_depth_msg(i))
    started = time.monotonic()
    depth, info = sync.take(stamp(1) + 15_000_000)  # 15 ms after frame 1's stamp
    assert conversions.time_to_ns(depth.header.stamp) == stamp(1) and info is not None
    assert sync.take(stamp(1) + 50_000_000)[0] is None  # between two images: none within 20 ms, and no wait
    assert time.monotonic() - started < 1.0  # a later image had come, so frame 1.5's was not waited for
    assert conversions.time_to_ns(sync.take(stamp(2))[0].header.stamp) == stamp(2)
    assert sync.take(stamp(1))[0] is None  # older than a frame taken: dropped
