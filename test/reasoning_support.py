"""Helpers of the reasoning and node tests: one tiny random-weight VLM per session, nodes spun in a thread, the
config file, and a scripted pick-and-place scene (entities and the camera frames that show them)."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Loading must never reach for the hub: set before transformers (and huggingface_hub) read it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import cv2
import numpy as np
from samples import at

from merge_ros.config import load_config
from merge_ros.types import Box, Entity, EntityKind, Keypoint

_built: dict[str, Path] = {}


def tiny_vlm_path(tmp_path_factory) -> Path:
    """The saved model folder, built on first use in this session (test modules share it)."""
    from vlm_doubles import build_tiny_vlm

    if "path" not in _built:
        _built["path"] = build_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"))
    return _built["path"]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll condition (the executor spins in its own thread) until true or timeout; return condition()."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@contextmanager
def spinning(context, *nodes, threads: int = 4) -> Iterator[None]:
    """Spin nodes with a MultiThreadedExecutor in a background thread, as a multi-node process does."""
    from rclpy.executors import MultiThreadedExecutor

    executor = MultiThreadedExecutor(num_threads=threads, context=context)
    for node in nodes:
        executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()  # stop spinning before shutting the executor down: shutdown under a spinning thread races
        thread.join(timeout=10.0)
        executor.shutdown(timeout_sec=5.0)
        for node in nodes:
            node.destroy_node()


CONFIG = Path(__file__).resolve().parents[1] / "config" / "merge.yaml"


@contextmanager
def params_file_context(path: Path = CONFIG) -> Iterator[object]:
    """An rclpy context initialised with --params-file path, as `ros2 run ... --ros-args --params-file` gives."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(args=["merge_ros", "--ros-args", "--params-file", str(path)], context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


def config_section(node_name: str, path: Path = CONFIG) -> dict:

    return load_config(path)[node_name]


T0_NS = 1_700_000_000_000_000_000
FPS = 10.0
# The hand reaches for the apple (1-2 s), carries it to the plate (2.5-4 s), lets go and pulls back (4.5-5.5 s).
HAND = [(0.0, (150.0, 300.0)), (1.0, (150.0, 300.0)), (2.0, (250.0, 340.0)), (2.5, (250.0, 340.0)),
        (4.0, (400.0, 340.0)), (4.5, (400.0, 340.0)), (5.5, (150.0, 300.0))]
APPLE = [(2.5, (250.0, 372.0)), (4.0, (400.0, 372.0))]
# What perception proposes for it: (actor, action, object, relation, target).
PERCEPTION_CANDIDATES = [("person_1", "grasp", "apple_1", "", ""),
                         ("person_1", "place_down", "apple_1", "on", "plate_1")]


def scene(t: float) -> list[Entity]:
    """The entities perception reports at t seconds into the pick-and-place."""
    ax, ay = at(APPLE, t)
    return [
        Entity("person_1", EntityKind.PERSON, "person", Box(100, 50, 300, 450), 0.9,
               [Keypoint("right_wrist", *at(HAND, t), 0.9), Keypoint("left_wrist", 120.0, 320.0, 0.9)]),
        Entity("apple_1", EntityKind.OBJECT, "apple", Box(ax - 15, ay - 15, ax + 15, ay + 15), 0.9),
        Entity("plate_1", EntityKind.OBJECT, "plate", Box(350, 380, 450, 400), 0.9),
    ]


def render(entities: list[Entity]) -> np.ndarray:
    """The camera frame of a scene: each entity drawn as a filled box of its own colour."""
    frame = np.full((480, 640, 3), 60, np.uint8)
    colours = {"person": (200, 120, 60), "apple": (30, 30, 220), "plate": (235, 235, 235)}
    for e in entities:
        b = e.box
        cv2.rectangle(frame, (int(b.x_min), int(b.y_min)), (int(b.x_max), int(b.y_max)),
                      colours.get(e.label, (0, 200, 0)), -1)
    return frame


PLACE_ANSWER = '```json\n[{"actor": "person_1", "action": "put down", "object": "apple_1", "on": "plate_1"}]\n```'
HOLD_ANSWER = '{"events": [{"actor": "person_1", "action": "hold", "object": "apple_1"}]}'


def scripted_answer(request) -> str:
    """A VLM that agrees with a placement on the plate (in its own words) and sees a hold anywhere else."""
    return PLACE_ANSWER if request.trigger.tentative_action == "place_down" else HOLD_ANSWER


def asked(triggers: list) -> list:
    """The triggers the detector sends to the VLM (its policy, not this test's)."""
    from merge_ros.events.tentative import REASONING_REASONS

    return [t for t in triggers if t.reason in REASONING_REASONS]


def run_offline(call, frames: bool = True, seconds: float = 7.0, steps: list | None = None, **kwargs):
    """Play the pick-and-place through a fresh EventStage; return it, its triggers and its candidates (and collect
    its steps into `steps` when given)."""
    from merge_ros.events import ChangeDetector
    from merge_ros.events.stage import EventStage
    from merge_ros.reasoning.prompt import RequestBuilder
    from merge_ros.types import EntityFrame, seconds_to_ns

    triggers, candidates = [], []
    stage = EventStage(ChangeDetector(), RequestBuilder(), call, on_step=(steps if steps is not None else []).append,
                       on_trigger=triggers.append, on_candidate=candidates.append, **kwargs)
    for i in range(int(seconds * FPS)):
        t = i / FPS
        stamp = T0_NS + seconds_to_ns(t)
        if frames:
            stage.add_frame(stamp, render(scene(t)))
        stage.update(EntityFrame(stamp, "camera", scene(t)))
    return stage, triggers, candidates
