"""`merge-ros bench perception`: what perception_node's whole path costs next to the bare model, per model format.

Figures:
- fps_node: frames per second of the node's per-frame work (decode a sensor_msgs/Image, detect, track, identity,
  build and serialise the EntityArray), on the same frames and in the same run as
- fps_model: bare `model.predict` with the same model weights and arguments on the already decoded frames;
  ratio = fps_node / fps_model (target at least 0.90 with yolo11n at 640 px on the CPU, in every format).
- --format torch,onnx,openvino,openvino_int8: the same for each format, all from the same weights (the model,
  and the pose model if any, saved once as .pt and exported from it, offline, before anything is timed; see
  export_models). openvino_int8 is OpenVINO quantised to 8 bits by NNCF, calibrated on the bench's frames: faster
  on a CPU, at a cost in accuracy to check on the robot's own footage; the others give torch's detections. The node
  path is perception_node's pipeline with parameter model = the exported file. The formats are timed interleaved
  frame by frame, so load on the machine falls on all alike; per format fps_<format> (its fps_node), and
  speedup_best: the best exported format's fps_node over torch's (target at least 2 on a CPU).
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
TARGET_SPEEDUP = 2.0
FORMATS: tuple[str, ...] = ("torch", "onnx", "openvino", "openvino_int8")


def formats_arg(text: str) -> list[str]:
    """--format: a comma-separated list of FORMATS, each once."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"formats are {', '.join(FORMATS)} (got {text!r})")
    return names


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
    p.add_argument("--format", type=formats_arg, default=["torch"], metavar="LIST",
                   help=f"model formats to compare, comma-separated ({', '.join(FORMATS)}); exports are made first")
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


def letterboxed_shape(width: int, height: int, imgsz: int, stride: int = 32) -> tuple[int, int]:
    """(height, width) of the image Ultralytics' torch path feeds the model for a width x height frame: scaled so
    the longer side is imgsz, then padded to a multiple of the stride (its rectangular letterbox)."""
    r = min(imgsz / height, imgsz / width)
    h, w = round(height * r), round(width * r)
    return h + (imgsz - h) % stride, w + (imgsz - w) % stride


def calibration_data(frames: list[np.ndarray], model, folder: Path) -> Path:
    """A dataset YAML over the frames for the model's task (no labels: quantisation only needs the images)."""
    import cv2
    import yaml

    images = folder / "images"
    images.mkdir(parents=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(images / f"{i:05d}.jpg"), frame)
    spec = {"path": str(folder), "train": "images", "val": "images", "names": dict(model.names)}
    if model.task == "pose":
        spec["kpt_shape"] = list(model.model.yaml["kpt_shape"])
    data = folder / "data.yaml"
    data.write_text(yaml.safe_dump(spec))
    return data


def export_models(args: argparse.Namespace, frames: list[np.ndarray], folder: Path) -> dict[str, tuple[str, str]]:
    """(model, pose_model) per format of args.format, all with the same weights: the models are saved as .pt
    (a .yaml gets its random weights once) and each format is exported from that file (export_model)."""
    import torch

    from merge_ros.perception.ultralytics_detector import load_model

    saved = []
    for seed, (name, parameter) in enumerate(((args.model, "model"), (args.pose_model, "pose_model"))):
        if not name:
            saved.append("")
            continue
        torch.manual_seed(seed)
        weights = folder / f"{Path(name).stem}.pt"
        load_model(name, parameter).save(weights)
        saved.append(str(weights))
    shape = letterboxed_shape(frames[0].shape[1], frames[0].shape[0], args.imgsz)
    model, pose = saved
    return {fmt: (export_model(model, fmt, shape, frames), export_model(pose, fmt, shape, frames) if pose else "")
            for fmt in args.format}


def export_model(weights: str, fmt: str, shape: tuple[int, int], frames: list[np.ndarray]) -> str:
    """The model file (or folder) of format fmt exported from the .pt weights, beside them; torch is the .pt.

    The export takes a fixed input of the frames' letterboxed (height, width) (letterboxed_shape): the same image
    torch gets, so the same detections, tracks and wrists (a square imgsz x imgsz input would be padded, costing
    compute and changing them), with the static shapes the runtimes optimise best. perception_node's imgsz stays as
    it is: Ultralytics letterboxes every frame to a fixed-shape model's own input. openvino_int8 is calibrated on
    frames.
    """
    from merge_ros.perception.ultralytics_detector import load_model

    if fmt == "torch":
        return weights
    model = load_model(weights, "model")
    if fmt == "openvino_int8":  # post-training quantisation (NNCF)
        data = calibration_data(frames, model, Path(weights).parent / f"calibration_{Path(weights).stem}")
        return str(model.export(format="openvino", imgsz=shape, quantize=8, data=str(data), batch=1, verbose=False))
    return str(model.export(format=fmt, imgsz=shape, verbose=False))


class Contender:
    """One format's node path (perception_node's pipeline) and bare model.predict, timed on the same frames."""

    def __init__(self, args: argparse.Namespace, model: str, pose_model: str):
        from merge_ros.params import resolve
        from merge_ros.perception.parameters import PERCEPTION_PARAMETERS, build_pipeline
        from merge_ros.perception.ultralytics_detector import load_model

        params = {"detector": "ultralytics", "model": model, "pose_model": pose_model, "device": args.device,
                  "imgsz": args.imgsz, "conf": args.conf, "max_det": args.max_det, "tracker": args.tracker}
        self.pipeline = build_pipeline(resolve(PERCEPTION_PARAMETERS, params))
        self.model = load_model(model, "model")
        self.predict_args = dict(imgsz=args.imgsz, conf=args.conf, iou=0.7, max_det=args.max_det, device=args.device,
                                 verbose=False)
        self.t_model = self.t_node = self.t_decode = self.t_message = 0.0

    def bare(self, frame: np.ndarray) -> float:
        t0 = time.perf_counter()
        self.model.predict(frame, **self.predict_args)
        return time.perf_counter() - t0

    def node_path(self, msg) -> tuple[float, float, float, float]:
        """The node's per-frame work; returns the time it started and the times after decode, after processing
        and after the message."""
        from merge_ros.ros import conversions

        t0 = time.perf_counter()
        decoded = conversions.image_msg_to_bgr8(msg)
        t_decoded = time.perf_counter()
        entities = self.pipeline.process(decoded, conversions.time_to_ns(msg.header.stamp), msg.header.frame_id)
        t_processed = time.perf_counter()
        conversions.serialized(conversions.entity_frame_to_msg(entities))  # what publish() does before DDS
        return t0, t_decoded, t_processed, time.perf_counter()

    def timed(self, frame: np.ndarray, msg, model_first: bool) -> None:
        """One frame through both paths, in the order given (alternated by the caller)."""
        if model_first:
            self.t_model += self.bare(frame)
        t0, t_decoded, t_processed, t_done = self.node_path(msg)
        self.t_node += t_done - t0
        self.t_decode += t_decoded - t0
        self.t_message += t_done - t_processed
        if not model_first:
            self.t_model += self.bare(frame)

    def figures(self, n: int) -> dict:
        stages = self.pipeline.stats.mean_ms()
        return {"fps_node": n / self.t_node, "fps_model": n / self.t_model, "ratio": self.t_model / self.t_node,
                "decode_ms": 1000 * self.t_decode / n, "detect_ms": stages["detect_ms"],
                "node_identity_ms": stages["identity_ms"], "message_ms": 1000 * self.t_message / n,
                "detections_per_frame": stages["detections_per_frame"]}


def node_path_fps(args: argparse.Namespace, frames: list[np.ndarray], models: dict[str, tuple[str, str]]) -> dict:
    """Each format's figures (Contender.figures), timed interleaved: frame by frame, every format in turn (the
    first one rotating) and within a format bare predict and the node path alternating which runs first."""
    from merge_ros.perception.pipeline import PipelineStats
    from merge_ros.ros import conversions

    contenders = {fmt: Contender(args, *paths) for fmt, paths in models.items()}
    messages = [conversions.image_msg(f, "bgr8", 1_000_000_000 + i * 100_000_000, "camera")
                for i, f in enumerate(frames)]
    for contender in contenders.values():
        for i in range(min(args.warmup, len(frames))):
            contender.bare(frames[i])
            contender.node_path(messages[i])
        contender.pipeline.stats = PipelineStats()  # count the timed frames only
    order = list(contenders.values())
    for i, (frame, msg) in enumerate(zip(frames, messages, strict=True)):
        shift = i % len(order)
        # which path goes first alternates per whole rotation, not per frame: with an even number of formats a
        # per-frame switch would always put the same format's work (a runtime whose threads linger after a run)
        # before one path and never before the other
        model_first = bool(i // len(order) % 2)
        for contender in order[shift:] + order[:shift]:
            contender.timed(frame, msg, model_first)
    return {fmt: contender.figures(len(frames)) for fmt, contender in contenders.items()}


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
                   "frame_size": list(frames[0].shape[1::-1]), "formats": args.format}
        exported = Path(tmp) / "models"
        exported.mkdir()
        per_format = node_path_fps(args, frames, export_models(args, frames, exported))
        figures.update(per_format[args.format[0]])  # the first format's figures, as a single-format run gives them
        figures.update({f"fps_{fmt}": f["fps_node"] for fmt, f in per_format.items()})
        figures["by_format"] = {fmt: {k: f[k] for k in ("fps_model", "fps_node", "ratio", "detect_ms")}
                                for fmt, f in per_format.items()}
        exports = [fmt for fmt in args.format if fmt != "torch"]
        if "torch" in per_format and exports:
            best = max(exports, key=lambda fmt: per_format[fmt]["fps_node"])
            figures.update(best_format=best,
                           speedup_best=per_format[best]["fps_node"] / per_format["torch"]["fps_node"])
        figures["identity_ms"] = measure_identity_ms(n_actors=10, n_objects=40)
        if scene is not None:
            figures.update(scene_identity_ms(scene))
    figures.update(target_ratio=TARGET_RATIO, target_identity_ms=TARGET_IDENTITY_MS)
    print(f"perception bench: {args.model} at {args.imgsz} px on {args.device}, {len(frames)} {source} frames "
          f"of {figures['frame_size'][0]}x{figures['frame_size'][1]}, "
          f"{figures['detections_per_frame']:.1f} detections/frame")
    for fmt, f in per_format.items():
        print(f"  {fmt:<13} bare model.predict {f['fps_model']:7.2f} fps   perception_node path "
              f"{f['fps_node']:7.2f} fps   ratio {f['ratio']:.3f} (target >= {TARGET_RATIO})")
    if "speedup_best" in figures:
        figures["target_speedup"] = TARGET_SPEEDUP
        print(f"  speedup of the best export ({figures['best_format']}) over torch, node path: "
              f"{figures['speedup_best']:.2f}x (target >= {TARGET_SPEEDUP})")
    print(f"  node stages ({args.format[0]}): decode {figures['decode_ms']:.2f} ms, detect+track "
          f"{figures['detect_ms']:.1f} ms, identity {figures['node_identity_ms']:.2f} ms, message "
          f"{figures['message_ms']:.2f} ms")
    print(f"  identity with 10 actors + 40 objects: {figures['identity_ms']:.2f} ms/frame "
          f"(target < {TARGET_IDENTITY_MS})")
    if scene is not None:
        print(f"  identity on the synthetic scene's tracked detections: {figures['scene_identity_ms']:.2f} ms/frame "
              f"({figures['scene_detections_per_frame']:.1f} detections/frame)")
    if args.json:
        print(json.dumps(_rounded(figures)))
    return 0


def _rounded(value):
    """Floats to 4 decimals, in nested figures too."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value
