"""Realism knobs: the imperfections of real perception that the event logic must survive.

On by default at moderate levels; `Realism.clean()` turns every one off (exact boxes, every entity in every
frame where it is visible, no acted distractions), which is what a test of the renderer itself wants.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Realism:
    box_jitter_px: float = 2.0        # std of each box coordinate's noise
    keypoint_jitter_px: float = 1.5   # std of each wrist/gripper keypoint coordinate's noise
    miss_rate: float = 0.03           # share of visible entity-frames a detector drops
    min_visible: float = 0.45         # an object less visible than this (occluded) is not detected
    min_in_frame: float = 0.4         # an actor with less of its extent inside the frame is not detected
    track_max_gap: int = 2            # frames a tracker bridges; a longer absence starts a new track_id
    occluding_layout: bool = True     # lay out an object where the first reaching arm passes over it
    false_reaches: bool = True        # a hand approaches an object and withdraws
    pass_by: bool = True              # an object is carried over another without being put on it
    leave_return: bool = True         # a person walks out of view and comes back
    sensor_noise: float = 3.0         # std of the pixel noise, grey levels
    jpeg_quality: int = 88
    # the depth sensor (merge_ros.synth.depth); its own random stream, so these never change the colour frames
    depth_noise: float = 1.0          # scale of the axial depth noise model (0: exact depth)
    depth_dropout: float = 0.02       # share of depth pixels lost in dropout blobs
    depth_edge_holes: float = 0.5     # share of depth-edge pixels with no reading
    depth_flying: float = 0.35        # share of depth-edge pixels with a value between the two sides (flying pixels)

    def __post_init__(self) -> None:
        if not 0.0 <= self.miss_rate < 1.0:
            raise ValueError("miss_rate must be in [0, 1)")
        if not 0.0 <= self.min_visible <= 1.0 or not 0.0 <= self.min_in_frame <= 1.0:
            raise ValueError("min_visible and min_in_frame must be in [0, 1]")
        if self.box_jitter_px < 0 or self.keypoint_jitter_px < 0 or self.sensor_noise < 0:
            raise ValueError("jitter and noise must be >= 0")
        if self.track_max_gap < 0:
            raise ValueError("track_max_gap must be >= 0")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be in [1, 100]")
        if self.depth_noise < 0:
            raise ValueError("depth_noise must be >= 0")
        shares = (self.depth_dropout, self.depth_edge_holes, self.depth_flying)
        if not all(0.0 <= v < 1.0 for v in shares) or self.depth_edge_holes + self.depth_flying > 1.0:
            raise ValueError("depth_dropout, depth_edge_holes and depth_flying must be in [0, 1), the last two "
                             "summing to at most 1")

    @classmethod
    def clean(cls) -> Realism:
        return cls(box_jitter_px=0.0, keypoint_jitter_px=0.0, miss_rate=0.0, occluding_layout=False,
                   false_reaches=False, pass_by=False, leave_return=False, sensor_noise=0.0, jpeg_quality=95,
                   depth_noise=0.0, depth_dropout=0.0, depth_edge_holes=0.0, depth_flying=0.0)

    def as_json(self) -> dict:
        return asdict(self)
