"""`merge-ros run`: the four nodes of launch/merge.launch.py in one process, with the same parameter file, for
machines without `ros2 launch`; `--bag BAG` replays a bag into them (its images remapped onto the camera topic),
`--video FILE_OR_DEVICE` publishes a video file or a webcam as their camera (merge_ros.ros.video). Runs until
Ctrl-C, or with --bag or a --video file until it has played (plus --settle seconds) when --exit is given.

Bad input is refused before any node starts, in one line naming the node and the parameter, with exit code 2:
an unknown node or parameter name (a typo, which ROS would silently ignore), a value out of range or of the wrong
type, a model that is neither here nor downloadable (check_startup); a model that is here but fails to load is
reported the same way by the node that loads it (merge_ros.ros.graph.run_graph).
"""
from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from merge_ros.topics import BAG_IMAGE_TOPIC, CAMERA_FRAME

VIDEO_STAMPS = ("wall", "file")  # how merge_ros.ros.video stamps frames: here, where no ROS import is made


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start the whole graph in one process (optionally replaying a bag into it)")
    p.add_argument("--config", type=Path, help="parameter file (default: the package's config/merge.yaml)")
    p.add_argument("--namespace", default="", help="namespace of the nodes and topics")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                   help="override one parameter, e.g. -p perception_node.detector=annotations (YAML value)")
    p.add_argument("--bag", type=Path, help="replay this bag into the graph")
    p.add_argument("--rate", type=float, default=1.0, help="replay rate (0 = as fast as possible)")
    p.add_argument("--camera-topic", default=BAG_IMAGE_TOPIC,
                   help="the bag's image topic, remapped onto the nodes' image/compressed")
    p.add_argument("--exit", action="store_true", help="with --bag or a --video file: stop once it has played")
    p.add_argument("--settle", type=float, default=4.0,
                   help="seconds to keep running after the bag or video (with --exit)")
    video = p.add_argument_group("a camera of one's own")
    video.add_argument("--video", metavar="FILE_OR_DEVICE",
                       help="publish a video file (anything OpenCV reads) or a webcam (its index, e.g. 0) as the "
                            "graph's camera; a file plays at its frame rate times --rate (0 = as fast as it decodes)")
    video.add_argument("--video-stamps", choices=VIDEO_STAMPS, default="wall",
                       help="header stamps: the wall clock (wall, as a camera driver) or the file's own timestamps "
                            "from the wall clock at its first frame (file)")
    video.add_argument("--video-compressed", action="store_true",
                       help="publish JPEG sensor_msgs/CompressedImage on image/compressed instead of bgr8 Image")
    video.add_argument("--camera-info", type=Path, metavar="YAML",
                       help="calibration (ROS camera_info YAML, as camera_calibration and merge-ros synth write it) "
                            "published on camera_info with each frame")
    video.add_argument("--frame-id", default=CAMERA_FRAME,
                       help=f"frame_id of the video's images (default {CAMERA_FRAME}): the parent of the /tf frames")
    p.set_defaults(func=run)


def parse_overrides(items: list[str]) -> dict[str, dict]:
    """["node.name=value", ...] -> {node: {name: value}}; values are YAML scalars or lists, and nothing after the
    '=' is the empty string (as in `-p perception_node.pose_model=`), not YAML's null."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, name = key.partition(".")
        if not sep or not dot or not node or not name:
            raise ValueError(f"bad --param {item!r}: expected NODE.NAME=VALUE")
        try:
            out.setdefault(node, {})[name] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"bad --param {item!r}: the value is not YAML ({exc})") from exc
    return out


class StartupError(ValueError):
    """One node's input is unusable; str() is 'NODE: the problem', the problem naming the parameter."""

    def __init__(self, node: str, problem: Exception | str):
        super().__init__(f"{node}: {problem}")
        self.node = node


def check_startup(config: Path | None, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every node's values (the parameter file's section with the overrides on top), resolved against its table,
    and the models they name located, before any node starts; StartupError at the first problem."""
    from merge_ros.config import node_parameters
    from merge_ros.offline import merged_sections
    from merge_ros.params import ParameterError, resolve

    tables = node_parameters()
    for node in overrides:
        if node not in tables:
            close = difflib.get_close_matches(node, list(tables), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise StartupError(node, f"no such node (the graph has {', '.join(tables)}){hint}")
    sections = merged_sections(config, overrides)
    values: dict[str, dict[str, Any]] = {}
    for node, table in tables.items():
        try:
            values[node] = resolve(table, sections.get(node))
        except ParameterError as exc:
            raise StartupError(node, exc) from exc
    check_models(values)
    return values


def check_models(values: Mapping[str, Mapping[str, Any]]) -> None:
    """The detector's and the VLM's models are local files (or cached, or downloadable now), found in seconds
    without loading them: a robot without internet hears at once what to provide, not after minutes of retries."""
    from merge_ros.params import ParameterError
    from merge_ros.reasoning.backends import BackendLoadError

    perception, vlm = values["perception_node"], values["vlm_node"]
    if perception["detector"] == "ultralytics":
        from merge_ros.perception.ultralytics_detector import locate_model

        # a pose model as the detector gives the wrists itself: pose_model is then unused
        names = ["model"] + (["pose_model"] if perception["pose_model"] and "pose" not in Path(
            perception["model"]).stem else [])
        for name in names:
            try:
                locate_model(perception[name], name)
            except ParameterError as exc:
                raise StartupError("perception_node", exc) from exc
    if vlm["backend"] == "transformers":
        from merge_ros.reasoning.backends.transformers_backend import model_source

        try:
            model_source(vlm["model"])
        except BackendLoadError as exc:
            raise StartupError("vlm_node", exc) from exc


def run(args: argparse.Namespace) -> int:
    from merge_ros.ros.entry import EXIT_BAD_PARAMETER
    from merge_ros.ros.graph import run_graph

    try:
        if args.bag is not None and args.video is not None:
            raise ValueError("--bag and --video are two cameras: give one")
        overrides = parse_overrides(args.param)
        check_startup(args.config, overrides)
        video = video_options(args)
    except ValueError as exc:  # a malformed -p, parameter file or value (StartupError), each in one line
        print(f"merge-ros run: {exc}", file=sys.stderr)
        return EXIT_BAD_PARAMETER
    return run_graph(args.config, overrides, args.namespace, bag=args.bag, rate=args.rate,
                     camera_topic=args.camera_topic, exit_after_bag=args.exit, settle_s=args.settle, video=video)


def video_options(args: argparse.Namespace):
    """The --video options (None without --video); VideoError (a ValueError) for unusable ones."""
    if args.video is None:
        if args.camera_info is not None:
            raise ValueError("--camera-info goes with --video")
        return None
    from merge_ros.ros.video import VideoOptions

    return VideoOptions(args.video, rate=args.rate, stamps=args.video_stamps, compressed=args.video_compressed,
                        calibration=args.camera_info, frame_id=args.frame_id)
