"""Thresholds of the streaming change detector.

Every field becomes a parameter of event_node, so each one says what it measures and why its default is what it
is. Distances are relative to the acting person's (or robot's) box height, so the same numbers work for a person
close to the camera and one across the table; object speeds are in object sizes per second for the same reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from merge_ros.params import ParameterError, check_fields, param


@dataclass
class ChangeDetectorConfig:
    hand_keypoints: tuple[str, ...] = param(
        ("left_wrist", "right_wrist", "left_hand", "right_hand", "gripper"),
        "Keypoint names that count as a hand (a person's wrists, a robot's gripper); other keypoints are "
        "ignored.")
    hand_min_score: float = param(
        0.3, "A hand keypoint below this score is treated as not visible (its contacts keep their state).", 0.0, 1.0)
    min_actor_scale_px: float = param(
        40.0, "Floor of the actor scale (box height) in pixels, so a truncated box does not shrink the contact "
        "radius to 0.", 0.0, math.inf)
    # --- hand-object contact (hysteresis + debounce) -------------------------------------------------------------
    contact_enter: float = param(
        0.06,
        "A hand touches an object when its distance to the object's box is below this fraction of the actor "
        "scale. A wrist keypoint sits a hand's length (about 0.08 of a person's height) from the fingers, so "
        "touching shows as a small positive distance, not zero.", 0.0, math.inf)
    contact_exit: float = param(
        0.12, "Contact ends only when the distance rises above this (hysteresis band against keypoint jitter).",
        0.0, math.inf)
    contact_frames: int = param(
        2, "Consecutive frames below contact_enter before contact starts (debounce).", 1, 1000)
    release_frames: int = param(
        2, "Consecutive frames above contact_exit before contact ends (debounce).", 1, 1000)
    # --- object motion -------------------------------------------------------------------------------------------
    motion_window_s: float = param(
        0.5,
        "Speed is the displacement of the box centre over this window: long enough to average out box jitter, "
        "short enough to see a pick-up within a few frames.", 0.001, math.inf)
    move_enter: float = param(
        1.0, "An object starts moving above this speed, in object sizes per second.", 0.0, math.inf)
    move_exit: float = param(
        0.5, "It comes to rest again below this speed (hysteresis).", 0.0, math.inf)
    move_frames: int = param(
        2, "Consecutive frames above move_enter before the object counts as moving.", 1, 1000)
    rest_frames: int = param(
        3, "Consecutive frames below move_exit before the object counts as at rest.", 1, 1000)
    min_object_scale_px: float = param(
        12.0,
        "Floor of an object's size (its smaller side) in pixels, so thin or tiny boxes do not turn box jitter "
        "into large speeds.", 0.0, math.inf)
    # --- tilt (pouring) ------------------------------------------------------------------------------------------
    tilt_enter: float = param(
        2.5,
        "A held object tilts when its box aspect (width / height) exceeds this multiple of its upright aspect "
        "(as it stood before the grasp): a bottle turned towards horizontal becomes wider than tall (about 6x "
        "at a pour).", 0.0, math.inf)
    tilt_exit: float = param(
        1.5, "The tilt ends below this multiple (hysteresis).", 0.0, math.inf)
    tilt_frames: int = param(
        2, "Consecutive frames above tilt_enter before a tilt counts.", 1, 1000)
    tilt_max_aspect: float = param(
        0.6,
        "Only an object clearly taller than wide when grasped (aspect below this) can show a pour by tilting: "
        "a bottle can, while a fruit's box changes shape under the fingers without meaning anything.", 0.0, math.inf)
    pour_reach: float = param(
        0.5,
        "A pour target (cup) must lie below the tilted object within this fraction of the actor scale; a tilt "
        "with no target in reach is no pour.", 0.0, math.inf)
    # --- placement ---------------------------------------------------------------------------------------------
    release_shift: float = param(
        0.06,
        "A held object at rest is let go when the holder's gripping hand moves more than this fraction of the "
        "actor scale within motion_window_s: hands often come to rest near what they just put down, inside "
        "the contact radius, so contact alone would miss the placement.", 0.0, math.inf)
    release_pending_s: float = param(
        1.5,
        "After a hand lets go of a still-moving object (dropped, tossed, passed on), wait this long for it to "
        "come to rest (place_down) or be caught by someone else (handover) before forgetting it.", 0.0, math.inf)
    support_margin: float = param(
        0.15, "A placed object rests on/in another object when its bottom-centre lies inside that object's box "
        "grown by this fraction of the supporting box's size.", 0.0, math.inf)
    support_min_area_ratio: float = param(
        1.5, "A support's box must be at least this many times the placed object's box area: a plate or bowl is "
        "clearly larger than what rests on it, a neighbouring fruit of about the same size is no support. "
        "Among the candidates left, the one covering most of the placed object's box wins.", 0.0, math.inf)
    container_labels: tuple[str, ...] = param(
        ("bowl", "cup", "mug", "glass", "box", "basket", "pot", "jar", "bin"),
        "Labels whose objects hold things *in* them (relation \"in\"); anything else supports objects *on* it.")
    # --- robots ------------------------------------------------------------------------------------------------
    robot_hand_enter: float = param(
        0.10, "A robot's gripper meets a person's hand below this distance, as a fraction of the person's scale.",
        0.0, math.inf)
    robot_hand_exit: float = param(
        0.18, "And stops meeting it above this one (hysteresis).", 0.0, math.inf)
    robot_events: bool = param(
        False,
        "Whether a robot's own pick-ups, placements and pours become candidate events (and VLM requests). Off "
        "by default: the robot knows its own actions from its controller, and GROUND annotates persons only "
        "(a robot taking part shows as robot_interaction on the person's events), so they would only be false "
        "positives there. The triggers fire either way; perception keeps tracking what the robot holds.")
    # --- actors appearing / leaving, objects out of view --------------------------------------------------------
    appear_frames: int = param(
        3, "Consecutive frames an actor must be seen before actor_appeared fires (a one-frame false detection "
        "does not).", 1, 1000)
    leave_s: float = param(
        2.0, "An actor unseen for this long has left (actor_left); shorter gaps are occlusions and keep all its "
        "state.", 0.0, math.inf)
    object_memory_s: float = param(
        2.0, "An object unseen for longer loses its motion history, so its position on return is not taken as "
        "motion.", 0.0, math.inf)
    # --- rate limiting ------------------------------------------------------------------------------------------
    cooldown_s: float = param(
        1.0, "Per actor and trigger reason: the same reason does not fire again for the same actor within this "
        "time. It is keyed by reason, not by actor alone, because a grasp followed by a place within a second "
        "is two real changes, while the same reason firing twice that fast is flicker the debounce did not "
        "absorb.", 0.0, math.inf)
    candidate_confidence: float = param(
        0.5, "Confidence of the candidate events perception proposes (geometry alone; the VLM's answers replace "
        "them).", 0.0, 1.0)

    def __post_init__(self) -> None:
        check_fields(self)
        for enter, exit_, above in (("contact_enter", "contact_exit", False), ("move_enter", "move_exit", True),
                                    ("tilt_enter", "tilt_exit", True), ("robot_hand_enter", "robot_hand_exit", False)):
            lo, hi = (exit_, enter) if above else (enter, exit_)
            if getattr(self, lo) > getattr(self, hi):
                raise ParameterError(exit_, f"hysteresis needs {lo} <= {hi} ({getattr(self, lo)} > "
                                            f"{getattr(self, hi)})")
