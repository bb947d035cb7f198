"""Timeline plot of one scene: ground truth against predictions per actor, hits and misses marked.

Each actor gets two lanes, ground truth above and predictions below. A full-tuple hit (TP) is a green dot in both
lanes joined by a line; a missed ground-truth event (FN) is a red cross with its +-tolerance window drawn as a
faint bar (where a matching prediction was looked for); a prediction that matched nothing (FP) is an orange
triangle. Drawn with matplotlib's Agg canvas through Figure (no pyplot state), so it works headless and in threads.
"""
from __future__ import annotations

from pathlib import Path

from merge_ros.evaluation.protocol import EMPTY_KEY, Key
from merge_ros.evaluation.runs import SceneResult

DPI = 100
WIDTH_IN = 14.0
HEIGHT_BASE_IN = 1.6
HEIGHT_PER_ACTOR_IN = 1.4
LANE_GAP = 3.0  # y distance between actors; lanes are at +-0.5 around each actor's centre
MAX_FP_LABELS = 30  # per actor; more would be unreadable

TP_COLOR, FN_COLOR, FP_COLOR, WINDOW_COLOR = "#2e7d32", "#c62828", "#ef6c00", "#e0e0e0"


def figure_size_px(n_actors: int) -> tuple[int, int]:
    """(width, height) in pixels of the timeline of a scene with n_actors actors."""
    return round(WIDTH_IN * DPI), round((HEIGHT_BASE_IN + HEIGHT_PER_ACTOR_IN * max(1, n_actors)) * DPI)


def key_label(key: Key) -> str:
    """E.g. "place_down object_2 on object_5 +robot"; labels that never match (stray whitespace, empty) say so."""
    if key == EMPTY_KEY:
        return "(empty)"
    action = key.action
    if not action.strip():
        action = "(no action)"
    elif action != action.strip():
        action = f"{action.strip()} (stray whitespace)"
    text = " ".join(p for p in (action, key.object) if p)
    if key.on:
        text += f" on {key.on}"
    return text + (" +robot" if key.robot else "")


def short_id(actor: str, keep: int = 8) -> str:
    return actor if len(actor) <= keep + 4 else "…" + actor[-keep:]


def plot_scene(scene: SceneResult, tolerance: float, path: Path | str, title: str = "") -> Path:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    actors = scene.score.actors
    width_px, height_px = figure_size_px(len(actors))
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    ax = fig.add_subplot()
    stamps = [t for m in actors.values() for t, _ in (*m.ground_truth, *m.predictions)]
    t0 = min(stamps, default=0.0)
    ticks, tick_labels = [], []
    for i, (actor, m) in enumerate(actors.items()):
        y_gt, y_pred = -i * LANE_GAP + 0.5, -i * LANE_GAP - 0.5
        ticks += [y_gt, y_pred]
        tick_labels += [f"{short_id(actor)}\n" + ("ground truth" if m.in_ground_truth else "(not in ground truth)"),
                        "predicted"]
        hit_gt = {g for g, _ in m.pairs}
        hit_pred = {p for _, p in m.pairs}
        for g, p in m.pairs:
            ax.plot([m.ground_truth[g][0] - t0, m.predictions[p][0] - t0], [y_gt, y_pred], color=TP_COLOR, lw=1.2)
        for g, (t, key) in enumerate(m.ground_truth):
            x = t - t0
            if g in hit_gt:
                ax.plot(x, y_gt, "o", color=TP_COLOR, ms=7)
            else:
                ax.plot([x - tolerance, x + tolerance], [y_gt, y_gt], color=WINDOW_COLOR, lw=6, zorder=0,
                        solid_capstyle="butt")
                ax.plot(x, y_gt, "X", color=FN_COLOR, ms=9)
            ax.annotate(key_label(key), (x, y_gt), xytext=(2, 6), textcoords="offset points", fontsize=7,
                        rotation=25, color="black" if g in hit_gt else FN_COLOR)
        false = [(t, key) for p, (t, key) in enumerate(m.predictions) if p not in hit_pred]
        for p, (t, _) in enumerate(m.predictions):
            if p in hit_pred:
                ax.plot(t - t0, y_pred, "o", color=TP_COLOR, ms=7)
        if false:
            ax.plot([t - t0 for t, _ in false], [y_pred] * len(false), "v", color=FP_COLOR, ms=7, mfc="none",
                    mew=1.5)
        if len(false) <= MAX_FP_LABELS:
            for t, key in false:
                ax.annotate(key_label(key), (t - t0, y_pred), xytext=(2, -8), textcoords="offset points",
                            fontsize=6, rotation=-25, color=FP_COLOR, va="top")
    ax.set_yticks(ticks, tick_labels, fontsize=8)
    ax.set_ylim(-(len(actors) - 1) * LANE_GAP - 2.2, 2.2)
    ax.set_xlabel("time since the first event (s)")
    ax.grid(axis="x", color="#f0f0f0")
    ax.legend(handles=[
        Line2D([], [], color=TP_COLOR, marker="o", label="hit (TP): truth and prediction joined"),
        Line2D([], [], color=FN_COLOR, marker="X", ls="none", label="missed truth (FN)"),
        Line2D([], [], color=WINDOW_COLOR, lw=6, label=f"±{tolerance:g} s window of a miss"),
        Line2D([], [], color=FP_COLOR, marker="v", mfc="none", ls="none", label="false prediction (FP)"),
    ], loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=8, frameon=False)
    counts = scene.score.counts["tuple"]
    fig.suptitle(f"{title or scene.name}: F1 {counts.f1:.3f}  TP {counts.tp}  FP {counts.fp}  FN {counts.fn}",
                 fontsize=10, y=0.995)
    fig.subplots_adjust(left=0.1, right=0.98, top=1 - 0.75 / fig.get_figheight(), bottom=0.55 / fig.get_figheight())
    path = Path(path)
    fig.savefig(path, dpi=DPI, format="png")
    return path
