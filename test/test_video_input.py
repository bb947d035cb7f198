"""A camera of one's own: `merge-ros run --video` publishes real footage (OpenCV's vtest.avi, from Debian's
opencv-doc) as the graph's camera, with the CameraInfo of a calibration file, runs the whole graph on it (the real
YOLO11n architecture, random weights) and exits with 0 at the end of the file, or on Ctrl-C; stamps follow the wall
clock or the file; an unusable video or calibration is refused in one line."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import cv2
import pytest
import samples
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_processes import fresh_domain, ros_env, started
from rosutil import spin_until
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from merge_ros.io.annotations import AnnotatedFrame, write_annotations
from merge_ros.msg import EntityArray
from merge_ros.perception.depth import CameraModel
from merge_ros.ros import conversions
from merge_ros.ros.video import VideoError, VideoInput, VideoOptions, VideoPublisher

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # 768x576, 10 fps, 795 frames of a street
needs_vtest = pytest.mark.skipif(not VTEST.is_file(), reason=f"no {VTEST}: apt-get install opencv-doc")
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
VTEST_CAMERA = CameraModel(768, 576, (700.0, 0.0, 383.5, 0.0, 700.0, 287.5, 0.0, 0.0, 1.0), (0.1, -0.2, 0.0, 0.0, 0.0))


def _clip(path: Path, frames: int) -> Path:
    """The first frames of vtest.avi, as a file of their own (MJPG, at vtest's 10 fps)."""
    source = cv2.VideoCapture(str(VTEST))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), source.get(cv2.CAP_PROP_FPS), (768, 576))
    for _ in range(frames):
        ok, frame = source.read()
        assert ok
        writer.write(frame)
    writer.release()
    return path


def _calibration(path: Path, camera: CameraModel) -> Path:
    path.write_text(yaml.safe_dump(camera.to_calibration("vtest")))
    return path


class Listener:
    """A node on the test's own domain collecting what the graph in the other process publishes."""

    def __init__(self, domain: int):
        import rclpy
        from rclpy.context import Context

        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("video_listener", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.got: dict[str, list] = {"entities": [], "camera_info": [], "image": []}
        for name, msg_type in (("entities", EntityArray), ("camera_info", CameraInfo), ("image", Image)):
            self.node.create_subscription(msg_type, name, self.got[name].append, RELIABLE)

    def spin(self, seconds: float) -> None:
        spin_until(self.executor, lambda: False, timeout=seconds)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _run_until_exit(proc, listener: Listener, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.proc.poll() is None and time.monotonic() < deadline:
        listener.spin(0.1)
    return proc.wait(timeout=max(1.0, deadline - time.monotonic()))


@pytest.mark.slow
@needs_vtest
def test_real_footage_runs_the_whole_graph_and_exits_cleanly_at_the_end_of_the_file(tmp_path):
    clip = _clip(tmp_path / "street.avi", 15)
    calibration = _calibration(tmp_path / "camera_info.yaml", VTEST_CAMERA)
    domain = fresh_domain()
    listener = Listener(domain)
    started_ns = time.time_ns()
    try:
        with started(["merge-ros", "run", "--video", str(clip), "--camera-info", str(calibration), "--exit",
                      "--settle", "1", "-p", "perception_node.model=yolo11n.yaml", "-p", "perception_node.pose_model=",
                      "-p", "perception_node.device=cpu"], ros_env(tmp_path, domain)) as proc:
            code = _run_until_exit(proc, listener, timeout=120.0)
            out = proc.output
        listener.spin(0.5)
    finally:
        listener.close()
    assert code == 0, out
    assert "video played: 15 frames" in out and "Traceback" not in out
    # the camera: bgr8 at the file's size, stamped by the wall clock, each with the calibration's CameraInfo
    images = listener.got["image"]
    assert images and all((m.encoding, m.width, m.height) == ("bgr8", 768, 576) for m in images)
    stamps = [conversions.time_to_ns(m.header.stamp) for m in images]
    assert started_ns < stamps[0] and stamps == sorted(stamps) and stamps[-1] < time.time_ns()
    infos = listener.got["camera_info"]
    assert infos and conversions.camera_info_from_msg(infos[-1]) == CameraModel(
        768, 576, VTEST_CAMERA.k, VTEST_CAMERA.d, frame_id="camera")
    assert {conversions.time_to_ns(m.header.stamp) for m in infos} & set(stamps)
    # and perception took frames from it (random weights: what it detects does not matter)
    entities = listener.got["entities"]
    assert entities and {conversions.time_to_ns(m.header.stamp) for m in entities} <= set(stamps)


@needs_vtest
def test_ctrl_c_stops_a_video_with_exit_code_0(tmp_path):
    annotations = tmp_path / "annotations.jsonl"
    # a detector that finds nothing at the wall clock's stamps: the graph's start-up and stop are what count here
    write_annotations(annotations, [AnnotatedFrame(1.0, "", [])])
    domain = fresh_domain()
    listener = Listener(domain)
    try:
        with started(["merge-ros", "run", "--video", str(VTEST), "-p", "perception_node.detector=annotations",
                      "-p", f"perception_node.annotations_file={annotations}",
                      "-p", "perception_node.identity.use_hint_ids=true"], ros_env(tmp_path, domain)) as proc:
            deadline = time.monotonic() + 60.0
            while not listener.got["entities"] and time.monotonic() < deadline and proc.proc.poll() is None:
                listener.spin(0.1)
            assert listener.got["entities"], proc.output
            proc.send(signal.SIGINT)
            code = _run_until_exit(proc, listener, timeout=30.0)
            out = proc.output
    finally:
        listener.close()
    assert code == 0, out
    assert "Traceback" not in out and "video played" not in out  # stopped long before its 80 s end


@pytest.mark.parametrize("compressed", [False, True], ids=["image", "compressed"])
def test_file_stamps_keep_the_files_timing_whatever_the_rate(ros_context, tmp_path, compressed):
    import rclpy

    path = tmp_path / "four_fps.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, (64, 48))
    for k in range(5):
        writer.write(samples.frame(seed=k))
    writer.release()
    video = VideoPublisher(VideoInput(VideoOptions(str(path), rate=0.0, stamps="file", compressed=compressed,
                                                   wait_subscribers=1)), context=ros_context)
    tester = rclpy.create_node("video_tester", context=ros_context)
    got: list = []
    tester.create_subscription(CompressedImage if compressed else Image,
                               "image/compressed" if compressed else "image", got.append, RELIABLE)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(tester)
    try:
        video.start()
        assert spin_until(executor, lambda: len(got) == 5 and video.wait(0), timeout=15.0)
        assert video.error is None and video.published == 5
        stamps = [conversions.time_to_ns(m.header.stamp) for m in got]
        assert [b - a for a, b in zip(stamps, stamps[1:], strict=False)] == [250_000_000] * 4  # 4 fps, exactly
        frame = conversions.image_msg_to_bgr8(got[0])
        assert frame.shape == (48, 64, 3) and {m.header.frame_id for m in got} == {"camera"}
    finally:
        video.stop()
        executor.shutdown()
        tester.destroy_node()
        video.destroy_node()


def test_an_unusable_video_or_calibration_is_refused_saying_why(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        VideoInput(VideoOptions(str(tmp_path / "missing.avi")))
    not_a_video = tmp_path / "notes.avi"
    not_a_video.write_text("not a video")
    with pytest.raises(VideoError, match="OpenCV cannot read a frame"):
        VideoInput(VideoOptions(str(not_a_video)))
    with pytest.raises(VideoError, match="a webcam has no file timestamps"):
        VideoInput(VideoOptions("0", stamps="file"))
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.write(samples.frame())
    writer.release()
    wrong = _calibration(tmp_path / "wrong.yaml", VTEST_CAMERA)
    with pytest.raises(VideoError, match="the calibration is for 768x576 images, the video's are 64x48"):
        VideoInput(VideoOptions(str(clip), calibration=wrong))
    garbled = tmp_path / "garbled.yaml"
    garbled.write_text("image_width: 64\n")
    with pytest.raises(VideoError, match="not a camera calibration"):
        VideoInput(VideoOptions(str(clip), calibration=garbled))


def test_merge_ros_run_refuses_a_missing_video_in_one_line(tmp_path):
    with started(["merge-ros", "run", "--video", str(tmp_path / "missing.avi"), "-p",
                  "perception_node.model=yolo11n.yaml", "-p", "perception_node.pose_model="],
                 ros_env(tmp_path, fresh_domain())) as proc:
        assert proc.wait(timeout=60.0) == 2
    assert "merge-ros run: --video:" in proc.output and "no such file" in proc.output
    assert "Traceback" not in proc.output
