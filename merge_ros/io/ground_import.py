"""A GROUND-eval scene folder as a rosbag2, so that the live graph can be fed the same scene the evaluator scores.

Bag layout written by `merge-ros import-ground` (rosbag2 version 9, CDR, mcap unless sqlite3 is asked for):

    topic                      type                             messages
    /registry/objects          sensor_msgs/msg/CompressedImage  one per object_images/<id>.jpg, header.frame_id = <id>
    /registry/persons          sensor_msgs/msg/CompressedImage  one per person_images/<id>.jpg, same
    /registry/robots           sensor_msgs/msg/CompressedImage  one per robot_images/<id>.jpg, same
    /ground_truth              std_msgs/msg/String              the text of ground_truth.json, once, if present
    /camera/image/compressed   sensor_msgs/msg/CompressedImage  one per images/<stamp>.jpg, header.stamp = <stamp>,
                                                                header.frame_id "camera", bag time = header stamp
    /camera/camera_info        sensor_msgs/msg/CameraInfo       one per frame, same stamp and frame_id, if the scene
                                                                has camera_info.yaml (K, D, size; R identity, P = [K|0])
    /camera/aligned_depth_to_color/image_raw
                               sensor_msgs/msg/Image            one per depth/<stamp>.png of a frame: 16UC1, mm, 0 = no
                                                                reading, aligned to the frame (same stamp, frame_id)

Depth is written as drivers publish it (realsense2_camera's aligned_depth_to_color, openni's depth_registered):
raw 16UC1 images, not compressed, and one CameraInfo per frame for the colour camera, which the aligned depth
shares. Per frame, the image, its CameraInfo and its depth image are written in that order at the same time.

Registry and ground-truth messages carry the first frame's stamp (header and bag time) and are written before
the first frame. They are offered reliable and TRANSIENT_LOCAL with a depth holding all of a topic's messages,
so a node that starts after the replay began still learns every registered instance (a replayer publishes them
that way); frames are offered best effort, as a camera driver does. Image bytes are the files' own (JPEG or PNG,
format "jpeg" / "png"), never re-encoded, so the pixels the pipeline sees are the dataset's. A registry topic
with no instances is not written. Files whose content is neither JPEG nor PNG, and depth images that are not 16-bit
single-channel images of the camera's size, are skipped and reported.

Frame stamps are `merge_ros.types.seconds_to_ns` of the file stem, the same conversion the annotations use, so
stamps in the bag equal `AnnotatedFrame.stamp_ns` exactly.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from merge_ros.io.bags import BagReader, TopicQos, create_writer, offered_profile
from merge_ros.io.rostypes import typestore
from merge_ros.io.scene_folder import NotASceneError, SceneFolder
from merge_ros.perception.depth import CameraModel
from merge_ros.topics import (
    BAG_CAMERA_INFO_TOPIC,
    BAG_DEPTH_TOPIC,
    BAG_IMAGE_TOPIC,
    BAG_REGISTRY_TOPICS,
    CAMERA_FRAME,
    GROUND_TRUTH_TOPIC,
)
from merge_ros.types import KIND_NAMES, NS_PER_S, EntityKind, seconds_to_ns

log = logging.getLogger(__name__)

COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
STRING_TYPE = "std_msgs/msg/String"
FRAME_QOS = TopicQos(reliable=False, transient_local=False)

K = TypeVar("K")
_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png"}


@dataclass
class ImportSummary:
    bag: Path
    frames: int
    first_ns: int
    last_ns: int
    registry: dict[str, int]  # kind -> instances written
    ground_truth: bool
    skipped: list[Path] = field(default_factory=list)  # files that are neither JPEG nor PNG (or unusable depth)
    depth_frames: int = 0    # depth images written
    camera_info: bool = False  # whether CameraInfo was written with every frame


def image_format(path: Path) -> str | None:
    """"jpeg" or "png" from the file's first bytes (not its name), None for anything else."""
    with path.open("rb") as f:
        head = f.read(8)
    return next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)


def import_scene(scene_dir: Path | str, bag_path: Path | str, storage: str = "mcap") -> ImportSummary:
    """Write the scene folder as a bag (layout in the module docstring).

    Raises NotASceneError when the folder is not a scene (missing, no frames, no readable frame, ground truth
    that is not JSON, a camera_info.yaml that is no calibration) and BagError when the bag cannot be written;
    nothing is left behind in either case.
    """
    scene = SceneFolder.open(scene_dir)
    skipped: list[Path] = []
    frames = _readable(((seconds_to_ns(stamp), path) for stamp, path in scene.frames()), skipped)
    if not frames:
        raise NotASceneError(f"{scene.root}: no frame in images/ is a JPEG or PNG file")
    references = {EntityKind.OBJECT: scene.object_images(), EntityKind.PERSON: scene.person_images(),
                  EntityKind.ROBOT: scene.robot_images()}
    registry = {kind: _readable(references[kind].items(), skipped) for kind in BAG_REGISTRY_TOPICS}
    ground_truth = None
    if scene.ground_truth_path.is_file():
        try:
            scene.ground_truth()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise NotASceneError(f"{scene.ground_truth_path}: not valid JSON: {exc}") from exc
        ground_truth = scene.ground_truth_path.read_text()
    for path in skipped:
        log.warning("skipping %s: neither a JPEG nor a PNG file", path)
    camera = scene.camera_model(CAMERA_FRAME)
    depth = {} if camera is None else {seconds_to_ns(stamp): path for stamp, path in scene.depth_frames().items()}
    written_depth = 0

    store = typestore()
    first_ns = frames[0][0]
    writer = create_writer(bag_path, storage)
    try:
        for kind, instances in registry.items():
            if instances:
                latched = offered_profile(TopicQos(reliable=True, transient_local=True, depth=len(instances)))
                conn = writer.add_connection(BAG_REGISTRY_TOPICS[kind], COMPRESSED_TYPE, typestore=store,
                                             offered_qos_profiles=[latched])
                for instance_id, (fmt, path) in instances:
                    writer.write(conn, first_ns, _compressed_cdr(first_ns, instance_id, fmt, path))
        if ground_truth is not None:
            latched = offered_profile(TopicQos(reliable=True, transient_local=True, depth=1))
            conn = writer.add_connection(GROUND_TRUTH_TOPIC, STRING_TYPE, typestore=store,
                                         offered_qos_profiles=[latched])
            writer.write(conn, first_ns, store.serialize_cdr(store.types[STRING_TYPE](data=ground_truth),
                                                             STRING_TYPE))
        conn = writer.add_connection(BAG_IMAGE_TOPIC, COMPRESSED_TYPE, typestore=store,
                                     offered_qos_profiles=[offered_profile(FRAME_QOS)])
        info_conn = None if camera is None else writer.add_connection(
            BAG_CAMERA_INFO_TOPIC, CAMERA_INFO_TYPE, typestore=store, offered_qos_profiles=[offered_profile(FRAME_QOS)])
        depth_conn = None
        for stamp_ns, (fmt, path) in frames:
            writer.write(conn, stamp_ns, _compressed_cdr(stamp_ns, CAMERA_FRAME, fmt, path))
            if info_conn is not None and camera is not None:
                writer.write(info_conn, stamp_ns, _camera_info_cdr(stamp_ns, camera))
            data = _depth_cdr(stamp_ns, depth[stamp_ns], camera, skipped) if stamp_ns in depth and camera else None
            if data is not None:
                if depth_conn is None:
                    depth_conn = writer.add_connection(BAG_DEPTH_TOPIC, IMAGE_TYPE, typestore=store,
                                                       offered_qos_profiles=[offered_profile(FRAME_QOS)])
                writer.write(depth_conn, stamp_ns, data)
                written_depth += 1
    except BaseException:
        writer.abort()
        _remove_bag(Path(bag_path))
        raise
    writer.close()
    return ImportSummary(Path(bag_path), len(frames), first_ns, frames[-1][0],
                         {KIND_NAMES[kind]: len(items) for kind, items in registry.items()}, ground_truth is not None,
                         skipped, written_depth, camera is not None)


def read_registry(bag: Path | str) -> dict[str, dict[str, bytes]]:
    """Registered instances in a bag: kind ("object", "person", "robot") -> instance ID -> image file bytes.

    Every kind is present (empty when the bag has none); a later message for an ID replaces an earlier one.
    """
    store = typestore()
    kinds = {topic: KIND_NAMES[kind] for kind, topic in BAG_REGISTRY_TOPICS.items()}
    out: dict[str, dict[str, bytes]] = {name: {} for name in kinds.values()}
    with BagReader(bag) as reader:
        for msg in reader.messages(kinds):
            image = store.deserialize_cdr(msg.data, msg.msgtype)
            out[kinds[msg.topic]][image.header.frame_id] = image.data.tobytes()
    return out


def read_ground_truth(bag: Path | str) -> dict | None:
    """The ground_truth.json a bag carries (the last one if several), None when it has none."""
    store = typestore()
    text = None
    with BagReader(bag) as reader:
        for msg in reader.messages([GROUND_TRUTH_TOPIC]):
            text = store.deserialize_cdr(msg.data, msg.msgtype).data
    return None if text is None else json.loads(text)


def _readable(items: Iterable[tuple[K, Path]], skipped: list[Path]) -> list[tuple[K, tuple[str, Path]]]:
    """(key, (format, path)) for the image files among (key, path) that are JPEG or PNG; the rest to skipped."""
    out = []
    for key, path in items:
        fmt = image_format(path)
        if fmt is None:
            skipped.append(path)
        else:
            out.append((key, (fmt, path)))
    return out


def _header(stamp_ns: int, frame_id: str):
    types = typestore().types
    sec, nanosec = divmod(stamp_ns, NS_PER_S)
    return types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec),
                                        frame_id=frame_id)


def _compressed_cdr(stamp_ns: int, frame_id: str, fmt: str, path: Path) -> bytes:
    store = typestore()
    msg = store.types[COMPRESSED_TYPE](header=_header(stamp_ns, frame_id), format=fmt,
                                       data=np.frombuffer(path.read_bytes(), dtype=np.uint8))
    return bytes(store.serialize_cdr(msg, COMPRESSED_TYPE))


def _depth_cdr(stamp_ns: int, path: Path, camera: CameraModel, skipped: list[Path]) -> bytes | None:
    """A depth PNG as a 16UC1 Image; None (and the file to skipped) unless it is 16-bit, one channel, the
    camera's size."""
    values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if values is None or values.dtype != np.uint16 or values.shape != (camera.height, camera.width):
        log.warning("skipping %s: not a %dx%d 16-bit single-channel depth image", path, camera.width, camera.height)
        skipped.append(path)
        return None
    store = typestore()
    values = np.ascontiguousarray(values.astype("<u2"))
    height, width = values.shape
    msg = store.types[IMAGE_TYPE](header=_header(stamp_ns, CAMERA_FRAME), height=height, width=width,
                                  encoding="16UC1", is_bigendian=0, step=2 * width,
                                  data=np.frombuffer(values.tobytes(), dtype=np.uint8))
    return bytes(store.serialize_cdr(msg, IMAGE_TYPE))


def _camera_info_cdr(stamp_ns: int, camera: CameraModel) -> bytes:
    store = typestore()
    roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    msg = store.types[CAMERA_INFO_TYPE](
        header=_header(stamp_ns, camera.frame_id), height=camera.height, width=camera.width,
        distortion_model=camera.distortion_model, d=np.array(camera.d, dtype=np.float64),
        k=np.array(camera.k, dtype=np.float64), r=np.array(camera.r, dtype=np.float64),
        p=np.array(camera.p, dtype=np.float64), binning_x=0, binning_y=0, roi=roi)
    return bytes(store.serialize_cdr(msg, CAMERA_INFO_TYPE))


def _remove_bag(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()

