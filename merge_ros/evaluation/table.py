"""The score table of an evaluation, as rows (shared by the text output and the HTML report) and as text."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from merge_ros.evaluation.protocol import scene_number
from merge_ros.evaluation.runs import EvaluationResult

COLUMNS: tuple[tuple[str, str], ...] = (
    ("f1", "F1"), ("f1_action", "F1 action"), ("f1_object", "F1 object"), ("f1_on", "F1 on"),
    ("f1_robot", "F1 robot"), ("TP", "TP"), ("FP", "FP"), ("FN", "FN"), ("seconds_per_image", "s/image"),
)


def group_label(names: Sequence[str]) -> str:
    """[scene_005_x, scene_006_y] -> "005-006"; names without a number are listed as they are."""
    numbers = [scene_number(n) for n in names]
    if None in numbers:
        return ", ".join(names)
    first, last = min(numbers), max(numbers)
    if len(set(numbers)) == last - first + 1:
        return f"{first:03d}" if first == last else f"{first:03d}-{last:03d}"
    return ",".join(f"{n:03d}" for n in sorted(numbers))


def format_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("TP", "FP", "FN"):
        return str(value)
    return f"{value:.4f}" if key.startswith("f1") else f"{value:.3f}"


def table_rows(result: EvaluationResult, per_scene: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """(label, scores) per group (or per scene), then the overall row."""
    if per_scene:
        rows = [(s.name, result.row([s])) for s in result.scenes]
    else:
        rows = [(group_label([s.name for s in g]), result.row(g)) for g in result.groups()]
    return [*rows, ("overall", result.overall)]


def format_table(result: EvaluationResult) -> str:
    header = ["scenes", *(title for _, title in COLUMNS)]
    body = [[label, *(format_value(k, row[k]) for k, _ in COLUMNS)] for label, row in table_rows(result)]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded)

    title = (f"{result.method}: {len(result.scenes)} scene(s), tolerance {result.tolerance:g} s "
             f"(full-tuple and per-field F1, micro-averaged)")
    rule = "-" * len(line(header))
    return "\n".join([title, line(header), rule, *map(line, body[:-1]), rule, line(body[-1])])
