"""Procedural GROUND-like scenes for tests and the demo (`merge-ros synth`).

`generate_scene(out_dir, scenario, persons, robot, seed, duration_s, fps, width, height, depth=True)` writes:

- images/<stamp>.jpg: 640x480 (by default) frames of a table seen from a camera at its near edge, persons
  standing behind it (torso, head, arms reaching over the table, skin-coloured hands), optionally a robot arm
  on a table corner; stamps are seconds with six decimals, starting near 1.7e9 (seed-dependent);
- object_images/object_<k>.png, person_images/person_<k>.png, robot_images/robot_1.png: a clean crop of each
  instance alone at the first frame (the registered reference images; the file stem is the ID);
- ground_truth.json in GROUND format, `{person_id: {stamp: [{"object", "action", "robot_interaction", "on"}]}}`,
  keyed by the stamp of the frame where the change happens:
  grasp: the hand has closed on the object (it moves with the hand from the next frame on);
  place_down: the object has come to rest; "on" is what it rests on ("" for the table);
  pour: the bottle has reached its pouring tilt over the cup; "on" and "in" are the cup;
  handover: the receiving person's hand has closed on the object; when the robot receives, the giving person
  gets the event (the ground truth lists persons only); robot_interaction is true whenever the robot takes part;
  idle: at the start and whenever a person's hands are back at rest and empty.
  When the target is a container (bowl, cup), the entry also carries "in" with the same ID as "on" (GROUND
  scores "on" and writes bowls there).
  Robot actions themselves are not listed;
- annotations.jsonl (merge_ros.io.annotations): every frame's visible entities with their true IDs, boxes,
  wrist keypoints (left_wrist/right_wrist; "gripper" for the robot), confidences and a tracker's track_id, and
  (with depth) each one's true 3-D point in the camera's optical frame: an object's centre (the middle of its
  axis), a person's chest (on the torso, 0.15 m below the shoulders' centre), a robot's grip point, and the
  wrists' and the grip point's own;
- depth/<stamp>.png (unless depth=False): the depth image aligned to the frame, 16UC1 in millimetres, 0 = no
  reading, ray-cast from the same 3-D scene the frame is drawn from and degraded as a real sensor's
  (merge_ros.synth.depth: noise growing with distance, disparity steps, holes and flying pixels along depth edges,
  dropout); camera_info.yaml: the camera's calibration in the ROS format (K, D, size), the same for every frame;
- scene.json: the parameters (depth included), the realism settings, each object's label, the pours and the
  realism incidents (false_reach, pass_by, leave) with their frame stamps, for tests that check a detector stays
  quiet there.

The realism knobs (merge_ros.synth.realism.Realism) are on by default at moderate levels. The depth sensor draws
from a random stream of its own, so the colour frames, annotations and ground truth are the same with or without
depth and whatever its settings.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from merge_ros.synth.catalog import SCENARIOS
    from merge_ros.synth.generate import generate_scene
    from merge_ros.synth.realism import Realism

__all__ = ["SCENARIOS", "Realism", "generate_scene"]

# Loaded on first use, so that `merge-ros --help` (which reads SCENARIOS) does not import OpenCV.
_HOMES = {"SCENARIOS": "merge_ros.synth.catalog", "Realism": "merge_ros.synth.realism",
          "generate_scene": "merge_ros.synth.generate"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
