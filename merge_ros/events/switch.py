"""A debounced two-threshold switch: the one mechanism behind contact, motion, tilt and robot-meeting states."""
from __future__ import annotations


class DebouncedSwitch:
    """A boolean state that turns on after `enter_frames` consecutive observations meeting the enter condition
    and off after `exit_frames` consecutive observations meeting the exit condition.

    Callers pass the two conditions (e.g. distance < enter, distance > exit) so that the band between them is a
    dead zone: an observation there resets the count without changing the state, which is what stops keypoint or
    box jitter near one threshold from toggling the state. A frame without an observation (occlusion) is simply
    not passed in, and the state holds.
    """

    __slots__ = ("on", "_count", "enter_frames", "exit_frames")

    def __init__(self, enter_frames: int, exit_frames: int, on: bool = False):
        self.on = on
        self._count = 0
        self.enter_frames = enter_frames
        self.exit_frames = exit_frames

    def update(self, enter: bool, exit_: bool) -> bool:
        """Feed one observation; returns True when the state flipped on this observation."""
        wanted = exit_ if self.on else enter
        if not wanted:
            self._count = 0
            return False
        self._count += 1
        if self._count >= (self.exit_frames if self.on else self.enter_frames):
            self.on = not self.on
            self._count = 0
            return True
        return False

    @property
    def idle(self) -> bool:
        """Off with nothing pending: safe to forget."""
        return not self.on and self._count == 0
