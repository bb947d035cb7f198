"""What can stand on the synthetic table: object kinds with their sizes, colours and how a hand holds them.

Sizes are real-world metres so that perspective makes near objects larger; colours are BGR.
"""
from __future__ import annotations

from dataclasses import dataclass

SCENARIOS: tuple[str, ...] = ("sorting", "pouring", "handover")
TABLE_HALF_WIDTH = 0.78
TABLE_DEPTH = 0.80
PERSON_Y = 0.99         # shoulder line of a person standing at the far edge, at rest
ARM_UPPER = 0.31
ARM_FORE = 0.30


@dataclass(frozen=True)
class ObjectKind:
    label: str
    shape: str                 # sphere, banana, plate, bowl, bottle, cup
    radius: float
    height: float              # extent along the object's axis (z when upright)
    grip_height: float         # height above the base of the point a hand closes on
    container: bool = False    # things placed onto it are "in" it (GROUND still scores them as "on")
    support_height: float = 0.0  # height of the surface an object placed on/in it rests at
    colors: tuple[tuple[int, int, int], ...] = ((128, 128, 128),)

    @property
    def movable(self) -> bool:
        return self.shape not in ("plate", "bowl")


KINDS: dict[str, ObjectKind] = {
    k.label: k for k in (
        ObjectKind("apple", "sphere", 0.040, 0.080, 0.040, colors=((40, 38, 185), (45, 150, 120), (35, 60, 200))),
        ObjectKind("orange", "sphere", 0.043, 0.086, 0.043, colors=((10, 130, 245), (20, 150, 250))),
        ObjectKind("banana", "banana", 0.018, 0.036, 0.018, colors=((45, 205, 240), (60, 215, 235))),
        ObjectKind("plate", "plate", 0.115, 0.018, 0.009, support_height=0.012,
                   colors=((236, 236, 232), (60, 60, 200), (200, 170, 120), (120, 200, 120))),
        ObjectKind("bowl", "bowl", 0.095, 0.065, 0.03, container=True, support_height=0.014,
                   colors=((45, 45, 48), (150, 110, 60), (215, 220, 225))),
        ObjectKind("bottle", "bottle", 0.034, 0.245, 0.105, colors=((90, 160, 70), (200, 160, 90), (60, 80, 170))),
        ObjectKind("cup", "cup", 0.040, 0.092, 0.05, container=True, support_height=0.012,
                   colors=((235, 235, 235), (70, 110, 210), (190, 120, 60))),
    )
}

FRUITS = ("apple", "orange", "banana")
SKIN_TONES = ((150, 180, 225), (120, 155, 205), (90, 125, 175), (70, 95, 140), (165, 195, 235))
HAIR_COLORS = ((30, 30, 35), (40, 60, 90), (60, 95, 140), (140, 150, 160), (25, 40, 60))
SHIRT_COLORS = ((40, 70, 110), (120, 60, 30), (60, 60, 60), (40, 40, 150), (70, 130, 60), (150, 120, 90),
                (30, 30, 30), (140, 90, 130))
