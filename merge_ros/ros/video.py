"""A camera of one's own: a video file (anything OpenCV reads) or a webcam published as the graph's camera, so that
a new user can run the whole graph on their own footage (`merge-ros run --video FILE_OR_DEVICE`).

Frames go out as sensor_msgs/Image bgr8 on image, or JPEG CompressedImage on image/compressed, each with the
CameraInfo of a calibration file if one is given (ROS camera_info YAML, as camera_calibration writes it and
merge-ros synth writes camera_info.yaml) on camera_info, same header. A file plays at its own frame rate (times
`rate`; 0 = as fast as it decodes), each frame at its own timestamp, so a variable-rate file keeps its timing;
a webcam is published as it delivers. Stamps are the wall clock at publication (`wall`, what a camera driver
does), or the frame's timestamp in the file counted from the wall clock at its first frame (`file`: the file's
own spacing, exactly).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from merge_ros.commands.run import VIDEO_STAMPS
from merge_ros.perception.depth import CameraModel, DepthError
from merge_ros.ros import conversions
from merge_ros.ros.qos import VIDEO_QOS
from merge_ros.topics import CAMERA_FRAME, CAMERA_INFO, IMAGE, IMAGE_COMPRESSED

DEFAULT_FPS = 30.0  # a file that does not say its frame rate


class VideoError(ValueError):
    """The video or its calibration cannot be used; the text says why."""


@dataclass(frozen=True)
class VideoOptions:
    source: str                      # a file, or a webcam's index ("0")
    rate: float = 1.0                # a file's playback speed; 0 = as fast as it decodes
    stamps: str = "wall"
    compressed: bool = False
    calibration: Path | None = None  # ROS camera_info YAML
    frame_id: str = CAMERA_FRAME
    wait_subscribers: int = 3        # image subscriptions (perception, events, grounding) to wait for at the start
    wait_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise VideoError(f"rate must be >= 0 (0 = as fast as possible), got {self.rate}")
        if self.stamps not in VIDEO_STAMPS:
            raise VideoError(f"stamps must be one of {', '.join(VIDEO_STAMPS)}, got {self.stamps!r}")

    @property
    def is_device(self) -> bool:
        return self.source.isdigit()


class VideoInput:
    """The opened source, its first frame read (so that its size is known and checked against the calibration)."""

    def __init__(self, options: VideoOptions) -> None:
        self.options = options
        if not options.is_device and not Path(options.source).is_file():
            raise VideoError(f"{options.source}: no such file (give a video file, or a webcam's index such as 0)")
        if options.is_device and options.stamps == "file":
            raise VideoError("a webcam has no file timestamps: use stamps wall")
        self._capture = cv2.VideoCapture(int(options.source) if options.is_device else options.source)
        ok, frame = self._capture.read() if self._capture.isOpened() else (False, None)
        if not ok or frame is None:
            self._capture.release()
            raise VideoError(f"{options.source}: OpenCV cannot read a frame from it")
        self._first: tuple[np.ndarray, float] | None = (frame, self._position_ms())
        self.height, self.width = frame.shape[:2]
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and fps > 0 else DEFAULT_FPS
        self.camera = self._calibration(options.calibration) if options.calibration else None

    def _position_ms(self) -> float:
        return float(self._capture.get(cv2.CAP_PROP_POS_MSEC))

    def _calibration(self, path: Path) -> CameraModel:
        try:
            camera = CameraModel.from_calibration(yaml.safe_load(Path(path).read_text()) or {}, self.options.frame_id)
        except (OSError, yaml.YAMLError, DepthError) as exc:
            raise VideoError(f"{path}: {exc}") from exc
        if (camera.width, camera.height) != (self.width, self.height):
            raise VideoError(f"{path}: the calibration is for {camera.width}x{camera.height} images, the video's are "
                             f"{self.width}x{self.height}")
        return camera

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """(BGR frame, its time in the file in ms) to the end of the file (a webcam: until it fails)."""
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        while True:
            ok, frame = self._capture.read()
            if not ok or frame is None:
                return
            yield frame, self._position_ms()

    def close(self) -> None:
        self._capture.release()


class VideoPublisher(Node):
    """Publishes a VideoInput from its own thread: start(), then wait() for the end of the file, or stop()."""

    def __init__(self, video: VideoInput, **kwargs) -> None:
        super().__init__("merge_video", **kwargs)
        self.video = video
        options = video.options
        self._image_pub = self.create_publisher(CompressedImage if options.compressed else Image,
                                                IMAGE_COMPRESSED if options.compressed else IMAGE, VIDEO_QOS)
        self._info_pub = self.create_publisher(CameraInfo, CAMERA_INFO, VIDEO_QOS) if video.camera else None
        self.published = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="merge video", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the video has ended (or failed: see error) within timeout seconds."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self.video.close()

    def _run(self) -> None:
        try:
            self._wait_subscribers()
            self._play()
        except BaseException as exc:  # reported by the caller (merge-ros run), never lost in a thread
            self.error = exc
        finally:
            self._done.set()

    def _wait_subscribers(self) -> None:
        """The graph's image subscriptions match in 0.05 s to seconds: frames sent before would be lost."""
        options = self.video.options
        deadline = time.monotonic() + options.wait_timeout
        while (self._image_pub.get_subscription_count() < options.wait_subscribers and time.monotonic() < deadline
               and not self._stop.is_set()):
            time.sleep(0.05)

    def _play(self) -> None:
        options = self.video.options
        start_mono = time.monotonic()
        start_ns = self.get_clock().now().nanoseconds
        first_ms: float | None = None
        for frame, position_ms in self.video.frames():
            first_ms = position_ms if first_ms is None else first_ms
            offset_s = (position_ms - first_ms) / 1000.0
            if not options.is_device and options.rate > 0:
                delay = start_mono + offset_s / options.rate - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
            if self._stop.is_set():
                return
            stamp_ns = start_ns + int(round(offset_s * 1e9)) if options.stamps == "file" else \
                self.get_clock().now().nanoseconds
            self._publish(frame, stamp_ns)

    def _publish(self, frame: np.ndarray, stamp_ns: int) -> None:
        frame_id = self.video.options.frame_id
        if self.video.options.compressed:
            self._image_pub.publish(conversions.compressed_msg(frame, stamp_ns, frame_id, "jpeg"))
        else:
            self._image_pub.publish(conversions.image_msg(frame, "bgr8", stamp_ns, frame_id))
        if self._info_pub is not None:
            self._info_pub.publish(conversions.camera_info_to_msg(self.video.camera, stamp_ns))
        self.published += 1
