"""An evaluation report: the score table and one timeline plot per scene, on one static HTML page."""
from __future__ import annotations

import html
import re
from pathlib import Path

from merge_ros.evaluation.runs import EvaluationResult
from merge_ros.evaluation.table import COLUMNS, format_value, table_rows
from merge_ros.evaluation.timeline import figure_size_px, plot_scene

INDEX = "index.html"

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.overall { font-weight: bold; background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #ddd; }
.note { color: #555; font-size: 90%; }
"""


def plot_file_name(scene: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", scene) + ".png"


def _table(result: EvaluationResult, per_scene: bool) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for t in ("scenes", *(title for _, title in COLUMNS)))
    rows = []
    for label, row in table_rows(result, per_scene):
        cls = ' class="overall"' if label == "overall" else ""
        cells = "".join(f"<td>{format_value(k, row[k])}</td>" for k, _ in COLUMNS)
        rows.append(f"<tr{cls}><td>{html.escape(label)}</td>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(out_dir: Path | str, result: EvaluationResult) -> Path:
    """Write index.html and <scene>.png into out_dir (created if needed); returns the index path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for scene in result.scenes:
        image = plot_scene(scene, result.tolerance, out / plot_file_name(scene.name),
                           title=f"{scene.name} ({result.method})")
        width, height = figure_size_px(len(scene.score.actors))
        actors = ", ".join(html.escape(a) for a in scene.score.actors) or "none"
        sections.append(
            f'<section id="{html.escape(scene.name)}"><h3>{html.escape(scene.name)}</h3>'
            f'<p class="note">actors: {actors}</p>'
            f'<img src="{html.escape(image.name)}" width="{width}" height="{height}" '
            f'alt="timeline of {html.escape(scene.name)}"></section>')
    title = f"GROUND evaluation: {result.method}"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{len(result.scenes)} scene(s), matching tolerance ±{result.tolerance:g} s. F1 is micro-averaged over the scenes
of each row; TP/FP/FN count full tuples (action, object, on, robot interaction); s/image is the run's processing
time per image where it is known.</p>
<h2>Scores by scene group</h2>
{_table(result, per_scene=False)}
<h2>Scores by scene</h2>
{_table(result, per_scene=True)}
<h2>Timelines</h2>
<p class="note">Per actor, ground truth above and predictions below. Green dots joined by a line: a full-tuple hit
(TP). Red cross: a missed ground-truth event (FN), with the ±{result.tolerance:g} s window that was searched. Orange
triangle: a prediction that matched nothing (FP). Idle ground-truth events are not scored and not drawn.</p>
{''.join(sections)}
</body></html>
"""
    index = out / INDEX
    index.write_text(page)
    return index
