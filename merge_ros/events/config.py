"""Thresholds of the streaming change detector.

Every field becomes a parameter of event_node, so each one says what it measures and why its default is what it
is. Distances are relative to the acting person's (or robot's) box height, so the same numbers work for a person
close to the camera and one across the table; object speeds are in object sizes per second for the same reason.
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class ChangeDetectorConfig:
    # --- hands -------------------------------------------------------------------------------------------------
    hand_keypoints: tuple[str, ...] = ("left_wrist", "right_wrist", "left_hand", "right_hand", "gripper")
    """Keypoint names that count as a hand (a person's wrists, a robot's gripper); other keypoints are ignored."""
    hand_min_score: float = 0.3
    """A hand keypoint below this score is treated as not visible (its contacts keep their state)."""
    min_actor_scale_px: float = 40.0
    """Floor of the actor scale (box height) in pixels, so a truncated box does not shrink the contact radius to 0."""

    # --- hand-object contact (hysteresis + debounce) -------------------------------------------------------------
    contact_enter: float = 0.06
    """A hand touches an object when its distance to the object's box is below this fraction of the actor scale.
    A wrist keypoint sits a hand's length (about 0.08 of a person's height) from the fingers, so touching shows as
    a small positive distance, not zero."""
    contact_exit: float = 0.12
    """Contact ends only when the distance rises above this (hysteresis band against keypoint jitter)."""
    contact_frames: int = 2
    """Consecutive frames below contact_enter before contact starts (debounce)."""
    release_frames: int = 2
    """Consecutive frames above contact_exit before contact ends (debounce)."""

    # --- object motion -------------------------------------------------------------------------------------------
    motion_window_s: float = 0.5
    """Speed is the displacement of the box centre over this window: long enough to average out box jitter,
    short enough to see a pick-up within a few frames."""
    move_enter: float = 1.0
    """An object starts moving above this speed, in object sizes per second."""
    move_exit: float = 0.5
    """It comes to rest again below this speed (hysteresis)."""
    move_frames: int = 2
    """Consecutive frames above move_enter before the object counts as moving."""
    rest_frames: int = 3
    """Consecutive frames below move_exit before the object counts as at rest."""
    min_object_scale_px: float = 12.0
    """Floor of an object's size (its smaller side) in pixels, so thin or tiny boxes do not turn box jitter into
    large speeds."""

    # --- tilt (pouring) ------------------------------------------------------------------------------------------
    tilt_enter: float = 2.5
    """A held object tilts when its box aspect (width / height) exceeds this multiple of its upright aspect (as
    it stood before the grasp): a bottle turned towards horizontal becomes wider than tall (about 6x at a pour)."""
    tilt_exit: float = 1.5
    """The tilt ends below this multiple (hysteresis)."""
    tilt_frames: int = 2
    """Consecutive frames above tilt_enter before a tilt counts."""
    tilt_max_aspect: float = 0.6
    """Only an object clearly taller than wide when grasped (aspect below this) can show a pour by tilting: a
    bottle can, while a fruit's box changes shape under the fingers without meaning anything."""
    pour_reach: float = 0.5
    """A pour target (cup) must lie below the tilted object within this fraction of the actor scale; a tilt with
    no target in reach is no pour."""

    # --- placement ---------------------------------------------------------------------------------------------
    release_shift: float = 0.06
    """A held object at rest is let go when the holder's gripping hand moves more than this fraction of the actor
    scale within motion_window_s: hands often come to rest near what they just put down, inside the contact
    radius, so contact alone would miss the placement."""
    release_pending_s: float = 1.5
    """After a hand lets go of a still-moving object (dropped, tossed, passed on), wait this long for it to come
    to rest (place_down) or be caught by someone else (handover) before forgetting it."""
    support_margin: float = 0.15
    """A placed object rests on/in another object when its bottom-centre lies inside that object's box grown by
    this fraction of the supporting box's size."""
    support_min_area_ratio: float = 1.5
    """A support's box must be at least this many times the placed object's box area: a plate or bowl is clearly
    larger than what rests on it, a neighbouring fruit of about the same size is no support. Among the candidates
    left, the one covering most of the placed object's box wins."""
    container_labels: tuple[str, ...] = ("bowl", "cup", "mug", "glass", "box", "basket", "pot", "jar", "bin")
    """Labels whose objects hold things *in* them (relation "in"); anything else supports objects *on* it."""

    # --- robots ------------------------------------------------------------------------------------------------
    robot_hand_enter: float = 0.10
    """A robot's gripper meets a person's hand below this distance, as a fraction of the person's scale."""
    robot_hand_exit: float = 0.18
    """And stops meeting it above this one (hysteresis)."""
    robot_events: bool = False
    """Whether a robot's own pick-ups, placements and pours become candidate events (and VLM requests). Off by
    default: the robot knows its own actions from its controller, and GROUND annotates persons only (a robot
    taking part shows as robot_interaction on the person's events), so they would only be false positives there.
    The triggers fire either way; perception keeps tracking what the robot holds."""

    # --- actors appearing / leaving, objects out of view --------------------------------------------------------
    appear_frames: int = 3
    """Consecutive frames an actor must be seen before actor_appeared fires (a one-frame false detection does not)."""
    leave_s: float = 2.0
    """An actor unseen for this long has left (actor_left); shorter gaps are occlusions and keep all its state."""
    object_memory_s: float = 2.0
    """An object unseen for longer loses its motion history, so its position on return is not taken as motion."""

    # --- rate limiting ------------------------------------------------------------------------------------------
    cooldown_s: float = 1.0
    """Per actor and trigger reason: the same reason does not fire again for the same actor within this time.
    It is keyed by reason, not by actor alone, because a grasp followed by a place within a second is two real
    changes, while the same reason firing twice that fast is flicker the debounce did not absorb."""
    candidate_confidence: float = 0.5
    """Confidence of the candidate events perception proposes (geometry alone; the VLM's answers replace them)."""

    def __post_init__(self) -> None:
        self.hand_keypoints = tuple(self.hand_keypoints)
        self.container_labels = tuple(self.container_labels)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"{f.name} must be >= 0, got {value}")
        for name in ("contact_frames", "release_frames", "move_frames", "rest_frames", "tilt_frames",
                     "appear_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for enter, exit_, above in (("contact_enter", "contact_exit", False), ("move_enter", "move_exit", True),
                                    ("tilt_enter", "tilt_exit", True), ("robot_hand_enter", "robot_hand_exit", False)):
            lo, hi = (exit_, enter) if above else (enter, exit_)
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"hysteresis needs {lo} <= {hi} ({getattr(self, lo)} > {getattr(self, hi)})")
        if self.motion_window_s <= 0:
            raise ValueError("motion_window_s must be > 0")
        if not 0.0 <= self.candidate_confidence <= 1.0:
            raise ValueError("candidate_confidence must be in [0, 1]")

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """The docstring under each field, for node parameter descriptions (one source of truth)."""
        return dict(_FIELD_DOCS)


def _parse_field_docs() -> dict[str, str]:
    """Attribute docstrings are not kept by Python at run time; read them from this module's source instead."""
    import ast
    import inspect
    import itertools

    try:
        tree = ast.parse(inspect.getsource(ChangeDetectorConfig))
    except (OSError, TypeError):  # no source shipped (frozen or byte-code-only install): descriptions stay empty
        return {}
    body = tree.body[0].body
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


_FIELD_DOCS = _parse_field_docs()
