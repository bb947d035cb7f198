"""`merge-ros bench perception`: what perception_node's whole path costs next to the bare model.

Figures:
- fps_node: frames per second of the node's per-frame work (decode a sensor_msgs/Image, detect, track, identity,
  build and serialise the EntityArray), on the same frames and in the same run as
- fps_model: bare `model.predict` with the same model weights and arguments on the already decoded frames;
  ratio = fps_node / fps_model (target at least 0.90 with yolo11n at 640 px on the CPU).
- identity_ms: mean cost of IdentityGallery.assign per frame with 10 actors and 40 objects registered and all of
  them detected (and tracked) in every frame (target under 5 ms).
- scene_identity_ms: the same in the pipeline on a synthetic scene's annotated, tracked detections (when the
  frames come from merge_ros.synth), i.e. what a trained detector with a tracker would hand identity.
- the node path's stage means (decode_ms, detect_ms, node_identity_ms, message_ms) and detections per frame.

Frames: a synthetic scene (merge_ros.synth), else vtest.avi where opencv-doc is installed, else generated shapes.
Random-weight models (a .yaml) detect nothing at the default confidence; with --conf 0 --max-det N they give N
boxes of confidence ~0 a frame, which the trackers never confirm, so identity embeds every one of them.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from merge_ros.bench.identity import measure_identity_ms

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
TARGET_RATIO = 0.90
TARGET_IDENTITY_MS = 5.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perception", help="perception_node path vs bare model.predict, identity cost",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=30, help="timed frames")
    p.add_argument("--warmup", type=int, default=3, help="untimed frames first")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--model", default="yolo11n.yaml", help="Ultralytics model (a .yaml builds random weights)")
    p.add_argument("--pose-model", default="", help="pose model for wrists ('' = none)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--max-det", type=int, default=100)
    p.add_argument("--tracker", default="bytetrack.yaml")
    p.add_argument("--source", choices=("auto", "synth", "video", "generated"), default="auto",
                   help="frames: a synthetic scene, vtest.avi (if installed) or generated shapes")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------------ frames


def generated_frames(n: int, width: int = 768, height: int = 576, seed: int = 0) -> list[np.ndarray]:
    """Textured background with moving person-sized and object-sized shapes (what a camera gives, roughly)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 200 // width), (yy * 180 // height), ((xx + yy) % 97) + 60], -1).astype(np.uint8)
    shapes = [(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-6, 6), rng.uniform(-4, 4),
               int(rng.integers(20, 140)), tuple(int(c) for c in rng.integers(0, 255, 3))) for _ in range(12)]
    frames = []
    for i in range(n):
        img = base.copy()
        for x, y, vx, vy, size, color in shapes:
            cx, cy = int((x + vx * i) % width), int((y + vy * i) % height)
            cv2.rectangle(img, (cx, cy), (cx + size // 2, cy + size), color, -1)
            cv2.circle(img, (cx + size // 4, cy - size // 6), max(4, size // 6), color, -1)
        frames.append(img)
    return frames


def video_frames(n: int, path: Path = VTEST) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def synth_scene(n: int, folder: Path, fps: float = 10.0):
    """A synthetic scene (merge_ros.synth: two persons and a robot at a table) of n frames, written to folder."""
    from merge_ros.synth import generate_scene

    return generate_scene(folder / "scene", persons=2, robot=True, seed=0, duration_s=n / fps, fps=fps)


def read_frames(scene) -> list[np.ndarray]:
    import cv2

    return [cv2.imread(str(path)) for _, path in scene.frames()]


def load_frames(source: str, n: int, folder: Path) -> tuple[str, list[np.ndarray], object]:
    """(source name, n frames, the synthetic scene or None)."""
    for name in ["synth", "video", "generated"] if source == "auto" else [source]:
        scene = synth_scene(n, folder) if name == "synth" else None
        frames = read_frames(scene) if scene else video_frames(n) if name == "video" else generated_frames(n)
        if frames:
            return name, [frames[i % len(frames)] for i in range(n)], scene
    raise SystemExit(f"no frames from source {source!r}")


# ------------------------------------------------------------------------------------------------ figures


def node_path_fps(args: argparse.Namespace, frames: list[np.ndarray]) -> dict:
    """Time the node's per-frame work and bare predict, interleaved frame by frame so load affects both alike."""
    import torch

    from merge_ros.params import resolve
    from merge_ros.perception.parameters import PERCEPTION_PARAMETERS, build_pipeline
    from merge_ros.perception.pipeline import PipelineStats
    from merge_ros.perception.ultralytics_detector import load_model
    from merge_ros.ros import conversions

    params = {"detector": "ultralytics", "model": args.model, "pose_model": args.pose_model, "device": args.device,
              "imgsz": args.imgsz, "conf": args.conf, "max_det": args.max_det, "tracker": args.tracker}
    torch.manual_seed(0)  # a .yaml model gets the same random weights in both paths
    pipeline = build_pipeline(resolve(PERCEPTION_PARAMETERS, params))
    torch.manual_seed(0)
    model = load_model(args.model, "model")
    predict_args = dict(imgsz=args.imgsz, conf=args.conf, iou=0.7, max_det=args.max_det, device=args.device,
                        verbose=False)
    messages = [conversions.image_msg(f, "bgr8", 1_000_000_000 + i * 100_000_000, "camera")
                for i, f in enumerate(frames)]

    def bare(frame: np.ndarray) -> float:
        t0 = time.perf_counter()
        model.predict(frame, **predict_args)
        return time.perf_counter() - t0

    def node_path(msg) -> tuple[float, float, float]:
        """The node's per-frame work; returns the times after decode, after processing and after the message."""
        decoded = conversions.image_msg_to_bgr8(msg)
        t_decoded = time.perf_counter()
        entities = pipeline.process(decoded, conversions.time_to_ns(msg.header.stamp), msg.header.frame_id)
        t_processed = time.perf_counter()
        conversions.serialized(conversions.entity_frame_to_msg(entities))  # what publish() does before DDS
        return t_decoded, t_processed, time.perf_counter()

    for i in range(min(args.warmup, len(frames))):
        bare(frames[i])
        node_path(messages[i])
    pipeline.stats = PipelineStats()  # count the timed frames only
    t_model = t_node = t_decode = t_message = 0.0
    for i, (frame, msg) in enumerate(zip(frames, messages, strict=True)):
        # alternate which path runs first, so cache and load effects fall on both alike
        if i % 2:
            t_model += bare(frame)
        t0 = time.perf_counter()
        t_decoded, t_processed, t_done = node_path(msg)
        t_node += t_done - t0
        t_decode += t_decoded - t0
        t_message += t_done - t_processed
        if not i % 2:
            t_model += bare(frame)
    n = len(frames)
    stages = pipeline.stats.mean_ms()
    return {"fps_node": n / t_node, "fps_model": n / t_model, "ratio": t_model / t_node,
            "decode_ms": 1000 * t_decode / n, "detect_ms": stages["detect_ms"],
            "node_identity_ms": stages["identity_ms"], "message_ms": 1000 * t_message / n,
            "detections_per_frame": stages["detections_per_frame"]}


def scene_identity_ms(scene) -> dict[str, float]:
    """Identity's cost in the pipeline on the synthetic scene's tracked detections (annotations detector, the
    scene's reference images registered, no hint IDs): what a real detector with a tracker would hand it."""
    import cv2

    from merge_ros.params import resolve
    from merge_ros.perception.parameters import PERCEPTION_PARAMETERS, build_pipeline
    from merge_ros.types import seconds_to_ns

    pipeline = build_pipeline(resolve(PERCEPTION_PARAMETERS, {"detector": "annotations", "scene_dir": str(scene.root)}))
    for stamp, path in scene.frames():
        pipeline.process(cv2.imread(str(path)), seconds_to_ns(stamp), "camera")
    stats = pipeline.stats.mean_ms()
    return {"scene_identity_ms": stats["identity_ms"], "scene_detections_per_frame": stats["detections_per_frame"]}


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        source, frames, scene = load_frames(args.source, args.frames, Path(tmp))
        figures = {"model": args.model, "pose_model": args.pose_model, "imgsz": args.imgsz, "device": args.device,
                   "conf": args.conf, "max_det": args.max_det, "frames": len(frames), "source": source,
                   "frame_size": list(frames[0].shape[1::-1])}
        figures.update(node_path_fps(args, frames))
        figures["identity_ms"] = measure_identity_ms(n_actors=10, n_objects=40)
        if scene is not None:
            figures.update(scene_identity_ms(scene))
    figures.update(target_ratio=TARGET_RATIO, target_identity_ms=TARGET_IDENTITY_MS)
    print(f"perception bench: {args.model} at {args.imgsz} px on {args.device}, {len(frames)} {source} frames "
          f"of {figures['frame_size'][0]}x{figures['frame_size'][1]}, "
          f"{figures['detections_per_frame']:.1f} detections/frame")
    print(f"  bare model.predict   {figures['fps_model']:7.2f} fps")
    print(f"  perception_node path {figures['fps_node']:7.2f} fps   ratio {figures['ratio']:.3f} "
          f"(target >= {TARGET_RATIO})")
    print(f"  node stages: decode {figures['decode_ms']:.2f} ms, detect+track {figures['detect_ms']:.1f} ms, "
          f"identity {figures['node_identity_ms']:.2f} ms, message {figures['message_ms']:.2f} ms")
    print(f"  identity with 10 actors + 40 objects: {figures['identity_ms']:.2f} ms/frame "
          f"(target < {TARGET_IDENTITY_MS})")
    if scene is not None:
        print(f"  identity on the synthetic scene's tracked detections: {figures['scene_identity_ms']:.2f} ms/frame "
              f"({figures['scene_detections_per_frame']:.1f} detections/frame)")
    if args.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0
