"""generate_scene: lay out, act, render and annotate one synthetic scene into a GROUND-format folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml

from merge_ros.io.annotations import AnnotatedFrame, write_annotations
from merge_ros.io.scene_folder import CAMERA_INFO_FILE, DEPTH_FOLDER, SceneFolder
from merge_ros.synth.annotate import Annotator
from merge_ros.synth.camera import Camera
from merge_ros.synth.depth import DepthSensor
from merge_ros.synth.realism import Realism
from merge_ros.synth.render import Renderer
from merge_ros.synth.scenarios import build
from merge_ros.synth.script import GtEvent, Script
from merge_ros.synth.timeline import PERSON, World

EPOCH_US = 1_700_000_000 * 1_000_000
OUTPUTS = ("images", "object_images", "person_images", "robot_images", "ground_truth.json", "annotations.jsonl",
           "scene.json", DEPTH_FOLDER, CAMERA_INFO_FILE)
CROP_MARGIN_PX = 6


def stamp_string(us: int) -> str:
    """A frame's stamp as GROUND writes it: seconds with six decimals, used as image stem and ground-truth key."""
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def generate_scene(out_dir: Path, scenario: str = "sorting", persons: int = 1, robot: bool = False, seed: int = 0,
                   duration_s: float = 30.0, fps: float = 10.0, width: int = 640, height: int = 480,
                   realism: Realism | None = None, overwrite: bool = False, depth: bool = True) -> SceneFolder:
    """Write a synthetic GROUND-format scene (see merge_ros.synth) to out_dir and return it opened.

    The same arguments give byte-identical annotations and ground truth. out_dir must be empty or absent unless
    overwrite is set, in which case only the generator's own outputs are replaced. depth False leaves out the
    depth images, the camera_info.yaml and the 3-D positions (faster, smaller); everything else is the same.
    """
    if not fps > 0 or not duration_s > 0:
        raise ValueError("fps and duration_s must be positive")
    if width < 160 or height < 120:
        raise ValueError("width and height must be at least 160 x 120")
    realism = realism or Realism()
    out = _prepare(Path(out_dir), overwrite, depth)
    # the depth sensor's stream is the sixth child: the first five (and so the colour scene) stay as they were
    layout_rng, act_rng, render_rng, annot_rng, sensor_rng, depth_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    n_frames = max(1, int(round(duration_s * fps)))

    setup = build(scenario, layout_rng, persons, robot, realism)
    world = World(setup.actors, setup.objects)
    script = Script(world, fps, n_frames, act_rng)
    setup.act(script)

    cam = Camera(width, height)
    renderer = Renderer(world, cam, render_rng, script.pours, depth=depth)
    start_us = EPOCH_US + int(layout_rng.integers(0, 86_400)) * 1_000_000 + int(layout_rng.integers(0, 10)) * 100_000
    stamps = [stamp_string(start_us + int(round(i * 1e6 / fps))) for i in range(n_frames)]
    sensor = _Sensor(sensor_rng, width, height, realism)
    annotator = Annotator(world, realism, annot_rng, width, height)
    depth_sensor = DepthSensor(depth_rng, width, height, cam.focal, realism) if depth else None
    frames: list[AnnotatedFrame] = []
    for i, stamp in enumerate(stamps):
        rendered = renderer.render(world.state(i))
        rel = f"images/{stamp}.jpg"
        if not cv2.imwrite(str(out / rel), sensor(rendered.image), [cv2.IMWRITE_JPEG_QUALITY, realism.jpeg_quality]):
            raise OSError(f"could not write {out / rel}")
        frame = annotator.frame(i, float(stamp), rel, rendered)
        if depth_sensor is not None and rendered.depth is not None:
            frame.depth = f"{DEPTH_FOLDER}/{stamp}.png"
            if not cv2.imwrite(str(out / frame.depth), depth_sensor(rendered.depth)):
                raise OSError(f"could not write {out / frame.depth}")
            seen = {e.id for e in frame.entities}
            frame.positions = {k: v for k, v in rendered.positions.items() if k in seen}
            frame.keypoint_positions = {k: v for k, v in rendered.keypoint_positions.items() if k in seen}
        frames.append(frame)
    write_annotations(out / "annotations.jsonl", frames)
    if depth:
        (out / CAMERA_INFO_FILE).write_text(yaml.safe_dump(cam.model().to_calibration("synthetic"),
                                                           sort_keys=False))
    _write_references(out, world, renderer)
    gt_events = [e for e in script.gt if e.frame < n_frames]
    (out / "ground_truth.json").write_text(json.dumps(ground_truth(gt_events, stamps, world), indent=1))
    meta = {
        "generator": "merge_ros.synth", "format_version": 1, "scenario": scenario, "persons": persons,
        "robot": robot, "seed": seed, "duration_s": duration_s, "fps": fps, "width": width, "height": height,
        "n_frames": n_frames, "first_stamp": stamps[0], "realism": realism.as_json(), "depth": depth,
        "actors": {a.id: {"kind": a.kind} for a in world.actors.values()},
        "objects": {o.id: {"label": o.label, "start": [round(float(v), 3) for v in o.position]}
                    for o in world.objects.values()},
        "incidents": [dict(i.as_json(), start_stamp=stamps[min(i.start, n_frames - 1)],
                           end_stamp=stamps[min(i.end, n_frames - 1)])
                      for i in script.incidents if i.start < n_frames],
        "pours": [{"bottle": p.bottle, "cup": p.cup, "stamp": stamps[p.full]} for p in script.pours
                  if p.full < n_frames],
    }
    (out / "scene.json").write_text(json.dumps(meta, indent=1))
    return SceneFolder.open(out)


def ground_truth(events: list[GtEvent], stamps: list[str], world: World) -> dict:
    gt: dict[str, dict[str, list[dict]]] = {a: {} for a, s in world.actors.items() if s.kind == PERSON}
    for e in sorted(events, key=lambda e: e.frame):
        gt[e.person].setdefault(stamps[e.frame], []).append(e.as_ground())
    return gt


def _prepare(out: Path, overwrite: bool, depth: bool) -> Path:
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(f"{out} exists and is not a directory")
        present = [p for p in out.iterdir()]
        if present and not overwrite:
            raise FileExistsError(f"{out} is not empty (use overwrite to replace a generated scene)")
        for name in OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    for sub in ("images", "object_images", "person_images") + ((DEPTH_FOLDER,) if depth else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    return out


def _write_references(out: Path, world: World, renderer: Renderer) -> None:
    """Reference crops of each instance alone on the table at the first frame: what a registry is seeded with."""
    state = world.state(0)
    for eid, spec in list(world.objects.items()) + list(world.actors.items()):
        rendered = renderer.render(state, only={eid})
        vis = rendered.visibility.get(eid)
        if vis is None or vis.box is None:
            raise RuntimeError(f"{eid} is not visible in the first frame; cannot crop its reference image")
        h, w = rendered.image.shape[:2]
        x0, y0, x1, y1 = vis.box
        crop = rendered.image[max(int(y0) - CROP_MARGIN_PX, 0):min(int(y1) + CROP_MARGIN_PX, h),
                              max(int(x0) - CROP_MARGIN_PX, 0):min(int(x1) + CROP_MARGIN_PX, w)]
        folder = "object_images" if eid in world.objects else (
            "person_images" if getattr(spec, "kind", "") == PERSON else "robot_images")
        (out / folder).mkdir(exist_ok=True)
        cv2.imwrite(str(out / folder / f"{eid}.png"), crop)


class _Sensor:
    """Camera imperfections: slight exposure flicker and pixel noise (from a small pre-drawn bank, for speed)."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, realism: Realism) -> None:
        self.rng = rng
        self.sigma = realism.sensor_noise
        self.bank = [np.round(rng.normal(0.0, self.sigma, (height + 16, width + 16, 3))).astype(np.int16)
                     for _ in range(3)] if self.sigma > 0 else []

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if not self.bank:
            return img
        gain = 1.0 + float(self.rng.normal(0.0, 0.012))
        noise = self.bank[int(self.rng.integers(len(self.bank)))]
        dy, dx = (int(v) for v in self.rng.integers(0, 16, 2))
        h, w = img.shape[:2]
        return cv2.add(cv2.convertScaleAbs(img, alpha=gain), noise[dy:dy + h, dx:dx + w], dtype=cv2.CV_8U)
