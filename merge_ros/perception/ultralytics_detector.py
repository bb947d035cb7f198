"""The `ultralytics` detector backend: any model Ultralytics loads, its trackers, and a pose model for wrists.

One detection model (YOLO .pt/.onnx/.engine, RT-DETR, or open-vocabulary YOLO-World/YOLOE with class prompts)
finds persons, robots and objects; ByteTrack or BoT-SORT gives short-lived track IDs; a pose model adds the
wrists (COCO keypoints 9 and 10) to the person boxes it overlaps. The pose model runs only on frames that
contain a person, and not at all when the detection model is itself a pose model (one pass gives both).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merge_ros.box_arrays import box_iou_matrix
from merge_ros.params import ParameterError, check_fields, param
from merge_ros.perception.detection import Detection
from merge_ros.types import Box, EntityKind, Keypoint

PERSON_LABEL = "person"
COCO_CLASSES = 80
# COCO-17 keypoint indices of the points that matter for hand-object interaction.
WRIST_KEYPOINTS: dict[int, str] = {9: "left_wrist", 10: "right_wrist"}


@dataclass
class UltralyticsConfig:
    """The detector's settings; each field is a parameter of perception_node."""

    model: str = param("yolo11n.pt", "Ultralytics model: a file (.pt, .onnx, .engine, .yaml), an OpenVINO export "
                                     "folder (NAME_openvino_model/, the fastest on a CPU) or a name it can download "
                                     "(YOLO, RT-DETR, YOLO-World, YOLOE)")
    pose_model: str = param("yolo11n-pose.pt", "Ultralytics pose model giving persons' wrists ('' = none; unused "
                                               "when model is itself a pose model); runs only on frames with a person")
    device: str = param("cpu", "torch device of the models: cpu, cuda:0, ...")
    imgsz: int = param(640, "inference image size in pixels (longest side)", 32, 4096)
    conf: float = param(0.25, "minimum detection confidence", 0.0, 1.0)
    iou: float = param(0.7, "IoU threshold of non-maximum suppression", 0.0, 1.0)
    max_det: int = param(100, "maximum detections per frame", 1, 1000)
    classes: tuple[str, ...] = param((), "class names to keep ([] = all); for YOLO-World/YOLOE these are the "
                                         "open-vocabulary prompts. robot_classes are kept as well")
    robot_classes: tuple[str, ...] = param((), "class names (or prompts) whose detections are robots (ROBOT actors)")
    half: bool = param(False, "half-precision inference (CUDA only)")
    tracker: str = param("bytetrack.yaml", "Ultralytics tracker configuration: bytetrack.yaml, botsort.yaml or a "
                                           "path ('' = no tracking, track_id -1)")
    pose_iou: float = param(0.5, "minimum IoU between a pose box and a person box to give the person its wrists",
                            0.0, 1.0)

    def __post_init__(self) -> None:
        check_fields(self)


def locate_model(path: str, parameter: str) -> Path:
    """Where Ultralytics will find the model `path` names, checked before anything is loaded or downloaded.

    A path with a folder must exist. A bare name (e.g. yolo11n.pt) is a local file, or one in Ultralytics' weights
    folder, or else a download: without a network that is refused at once, saying how to provide the file, rather
    than left to the downloader's retries. Model configurations (.yaml) ship with Ultralytics and need neither.
    """
    if not path:
        raise ParameterError(parameter, "is empty; give a model file or name (e.g. yolo11n.pt)")
    p = Path(path).expanduser()
    if p.exists() or p.suffix in (".yaml", ".yml"):
        return p
    if p.parent != Path("."):
        raise ParameterError(parameter, f"model file {path!r} does not exist")
    from ultralytics.utils import SETTINGS, is_online

    weights = Path(SETTINGS["weights_dir"]) / p.name
    if weights.exists() or is_online():
        return p
    raise ParameterError(parameter, f"model {path!r} is not a local file nor in Ultralytics' weights folder "
                         f"({weights.parent}), and there is no network to download it: copy the file to this machine "
                         f"and give its path (on a connected machine, Python's `from ultralytics import YOLO; "
                         f"YOLO({p.name!r})` downloads it to the current folder)")


def load_model(path: str, parameter: str) -> Any:
    """Load any model Ultralytics knows (located first: locate_model); every failure becomes one error that names
    the parameter."""
    from ultralytics import YOLO

    p = locate_model(path, parameter)
    try:
        if "rtdetr" in p.stem.lower():  # YOLO() recognises RT-DETR checkpoints by their head, but not the .yaml
            from ultralytics import RTDETR

            return RTDETR(str(p))
        return YOLO(str(p))
    except Exception as exc:  # Ultralytics raises many types (FileNotFoundError, ConnectionError, KeyError, ...)
        raise ParameterError(parameter, f"cannot load model {path!r}: {type(exc).__name__}: {exc}") from exc


def _is_open_vocabulary(model: Any) -> bool:
    from ultralytics import YOLOE, YOLOWorld

    return isinstance(model, (YOLOWorld, YOLOE))


def class_names(model: Any) -> dict[int, str]:
    """The model's class names; an 80-class model built from a .yaml has only numbers, so it gets COCO's."""
    names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    if len(names) == COCO_CLASSES and all(v == str(k) for k, v in names.items()):
        from ultralytics.utils import YAML
        from ultralytics.utils.checks import check_yaml

        return dict(YAML.load(check_yaml("coco.yaml"))["names"])
    return dict(names)


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


class UltralyticsDetector:
    """Detector (merge_ros.perception.detection) backed by Ultralytics models and trackers."""

    def __init__(self, config: UltralyticsConfig | None = None, model: Any = None, pose_model: Any = None):
        """Models may be passed already loaded (a test or a bench sharing one); otherwise they are loaded here."""
        self.config = cfg = config or UltralyticsConfig()
        self.model = model if model is not None else load_model(cfg.model, "model")
        self.pose = None
        if cfg.pose_model and self.model.task != "pose":
            self.pose = pose_model if pose_model is not None else load_model(cfg.pose_model, "pose_model")
            if self.pose.task != "pose":
                raise ParameterError("pose_model", f"{cfg.pose_model!r} is a {self.pose.task} model, not a pose model")
        keep = self._set_vocabulary()
        self._tracker = self._resolve_tracker(cfg.tracker)
        # `half` only when asked: Ultralytics 8.4 warns on every call that passes it (it became `quantize`).
        self._pose_args: dict[str, Any] = dict(imgsz=cfg.imgsz, conf=cfg.conf, iou=cfg.iou, max_det=cfg.max_det,
                                               device=cfg.device, verbose=False, **({"half": True} if cfg.half else {}))
        self._args = dict(self._pose_args, classes=keep)
        self._warm_up()

    def _set_vocabulary(self) -> list[int] | None:
        """Give open-vocabulary models their prompts; map class names to indices; fix each class's kind."""
        cfg = self.config
        wanted = _unique(list(cfg.classes) + list(cfg.robot_classes)) if cfg.classes else []
        if _is_open_vocabulary(self.model) and wanted:
            try:
                self.model.set_classes(wanted)  # the prompts become the classes: nothing to filter after
            except Exception as exc:
                raise ParameterError("classes", f"cannot set the prompts {wanted} on {cfg.model!r} (its text "
                                     f"encoder must be loadable): {type(exc).__name__}: {exc}") from exc
            wanted = []
        self.names = class_names(self.model)
        index = {name: i for i, name in self.names.items()}
        for parameter, listed in (("classes", cfg.classes), ("robot_classes", cfg.robot_classes)):
            unknown = [n for n in listed if n not in index]
            if unknown:
                known = ", ".join(list(index)[:12]) + (", ..." if len(index) > 12 else "")
                raise ParameterError(parameter, f"{unknown} are not classes of {cfg.model!r} (it knows: {known})")
        robots = set(cfg.robot_classes)
        self._kinds = {i: EntityKind.PERSON if n == PERSON_LABEL else EntityKind.ROBOT if n in robots
                       else EntityKind.OBJECT for i, n in self.names.items()}
        return [index[n] for n in wanted] or None

    @staticmethod
    def _resolve_tracker(tracker: str) -> str:
        if not tracker:
            return ""
        from ultralytics.utils.checks import check_yaml

        try:
            return str(check_yaml(tracker))
        except Exception as exc:
            raise ParameterError("tracker", f"no tracker configuration {tracker!r} (bytetrack.yaml, botsort.yaml "
                                 f"or a path): {exc}") from exc

    def _warm_up(self) -> None:
        """Build the predictors now (and check the device), so the first real frame is not slow."""
        blank = np.zeros((64, 64, 3), np.uint8)
        try:
            self.model.predict(blank, tracker=self._tracker or None, **self._args)
            if self.pose is not None:
                self.pose.predict(blank, **self._pose_args)
        except Exception as exc:
            raise ParameterError("device", f"cannot run {self.config.model!r} on {self.config.device!r}: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def detect(self, frame: np.ndarray, stamp_ns: int) -> list[Detection]:
        """Detect and track in one BGR frame; stamp_ns is unused (the tracker counts frames)."""
        if self._tracker:
            result = self.model.track(frame, persist=True, tracker=self._tracker, **self._args)[0]
        else:
            result = self.model.predict(frame, **self._args)[0]
        detections = self.to_detections(result)
        if self.pose is not None and any(d.kind is EntityKind.PERSON for d in detections):
            attach_wrists(detections, self.pose.predict(frame, **self._pose_args)[0], self.config.pose_iou)
        return detections

    def to_detections(self, result: Any) -> list[Detection]:
        """Turn one Ultralytics Results into Detections (a pose model's own keypoints become the wrists)."""
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return []
        xyxy = boxes.xyxy.cpu().numpy().tolist()
        classes = boxes.cls.cpu().int().tolist()
        confs = boxes.conf.cpu().tolist()
        ids = boxes.id.cpu().int().tolist() if boxes.is_track else [-1] * len(xyxy)
        keypoints = result.keypoints.data.cpu().numpy() if result.keypoints is not None else None
        out = []
        for i, (box, c, conf, track_id) in enumerate(zip(xyxy, classes, confs, ids, strict=True)):
            kind = self._kinds.get(c, EntityKind.OBJECT)
            out.append(Detection(kind=kind, label=self.names.get(c, str(c)), box=Box(*box), confidence=conf,
                                 keypoints=wrists(keypoints[i]) if keypoints is not None and kind.is_actor else [],
                                 track_id=track_id))
        return out


def wrists(points: np.ndarray) -> list[Keypoint]:
    """The wrist keypoints of one pose (K x 2 or K x 3 array); none when the skeleton has no COCO wrists."""
    if points.shape[0] <= max(WRIST_KEYPOINTS):
        return []
    return [Keypoint(name, float(points[i, 0]), float(points[i, 1]),
                     float(points[i, 2]) if points.shape[1] > 2 else 1.0)
            for i, name in WRIST_KEYPOINTS.items()]


def attach_wrists(detections: list[Detection], pose_result: Any, min_iou: float) -> None:
    """Give each person detection the wrists of the pose whose box overlaps it most (one-to-one, IoU >= min_iou)."""
    persons = [d for d in detections if d.kind is EntityKind.PERSON]
    if not persons or pose_result.boxes is None or len(pose_result.boxes) == 0 or pose_result.keypoints is None:
        return
    pose_boxes = pose_result.boxes.xyxy.cpu().numpy()
    pose_points = pose_result.keypoints.data.cpu().numpy()
    iou = box_iou_matrix(np.array([d.box.as_list() for d in persons], dtype=np.float32), pose_boxes)
    used_person, used_pose = set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < min_iou:
            break
        if i in used_person or j in used_pose:
            continue
        used_person.add(i)
        used_pose.add(j)
        persons[i].keypoints = wrists(pose_points[j])
