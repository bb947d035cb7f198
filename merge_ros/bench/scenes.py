"""The matrix of synthetic scenes the scene benchmarks share (`bench events`, `bench grounding`): command-line
options, the grid of (scenario, persons, robot, seed), generation into a work folder that a later run reuses,
and GROUND scoring of a scene's events against its ground truth."""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from merge_ros.synth import SCENARIOS

ROBOT_CHOICES = {"no": (False,), "yes": (True,), "both": (False, True)}


def int_list(text: str) -> list[int]:
    """'3', '0-4' (inclusive) or '1,2,5-6' as a list of integers (argparse type)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            a, b = (int(low), int(high)) if sep else (int(part), int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected N, A-B or a comma-separated list of them") from None
        if b < a:
            raise argparse.ArgumentTypeError(f"{part!r}: the range ends before it starts")
        out.extend(range(a, b + 1))
    return out


class _Flatten(argparse.Action):
    """nargs='+' of int_list values as one flat list (so '1,2 3' and '1-3' both give [1, 2, 3])."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [x for v in values for x in v])


def add_matrix_arguments(parser: argparse.ArgumentParser, seeds: Iterable[int] | None, duration_s: float,
                         seeds_help: str = "scene seeds") -> None:
    """--scenarios, --seeds (required when seeds is None), --persons, --robot, --duration, --fps, --tolerance,
    --workdir."""
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--seeds", type=int_list, nargs="+", action=_Flatten, required=seeds is None,
                        default=None if seeds is None else list(seeds),
                        help=f"{seeds_help}: N, A-B (inclusive) or lists of them")
    parser.add_argument("--persons", type=int_list, nargs="+", action=_Flatten, default=[1, 2, 3],
                        help="person counts to generate (1,2,3 or 1 2 3)")
    parser.add_argument("--robot", choices=tuple(ROBOT_CHOICES), default="both", help="scenes with a robot")
    parser.add_argument("--duration", type=float, default=duration_s, help="seconds per synthetic scene")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--tolerance", type=float, default=5.0, help="GROUND matching tolerance in seconds")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the generated scenes here and reuse them on the next run "
                             "(default: a temporary folder)")


def scene_grid(scenarios: Iterable[str], persons: Iterable[int], robot: str, seeds: Iterable[int]) -> list[dict]:
    """The scenes to generate; a handover needs two actors, so one person without a robot is left out there
    (merge_ros.synth refuses it)."""
    seeds, persons = list(seeds), list(persons)
    return [dict(scenario=s, persons=p, robot=r, seed=seed)
            for s in scenarios for p in persons for r in ROBOT_CHOICES[robot] for seed in seeds
            if not (s == "handover" and p < 2 and not r)]


def cell_name(spec: dict) -> str:
    """A cell of the matrix (all seeds of one scenario, person count and robot): 'sorting_3p_robot'."""
    return f"{spec['scenario']}_{spec['persons']}p{'_robot' if spec['robot'] else ''}"


def scene_name(spec: dict) -> str:
    """One scene of the matrix, its folder name: 'sorting_3p_robot_s0'."""
    return f"{cell_name(spec)}_s{spec['seed']}"


def generated(folder: Path, params: dict) -> bool:
    """Whether folder already holds a scene generated with these parameters (so a --workdir run can reuse it)."""
    try:
        meta = json.loads((Path(folder) / "scene.json").read_text())
    except (OSError, ValueError):
        return False
    return all(meta.get(k) == v for k, v in params.items()) and (Path(folder) / "annotations.jsonl").is_file()


def ensure_scene(workdir: Path, spec: dict, duration_s: float, fps: float) -> Path:
    """The scene of spec under workdir, generated unless an identical one is already there."""
    folder = Path(workdir) / scene_name(spec)
    if not generated(folder, dict(spec, duration_s=duration_s, fps=fps)):
        from merge_ros.synth import generate_scene

        generate_scene(folder, duration_s=duration_s, fps=fps, overwrite=True, **spec)
    return folder


def iter_scenes(grid: Iterable[dict], duration_s: float, fps: float, workdir: Path) -> Iterator[tuple[dict, Path]]:
    """(spec, folder) of each scene of the grid, generated one at a time as it is reached."""
    for spec in grid:
        yield spec, ensure_scene(workdir, spec, duration_s, fps)


@contextlib.contextmanager
def work_folder(workdir: Path | None, prefix: str) -> Iterator[Path]:
    """workdir (created), or a temporary folder removed afterwards when it is None."""
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        yield Path(workdir)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def score_events(events, folder: Path, tolerance: float):
    """The GROUND SceneScore of events (merge_ros.types.Event) against folder's ground_truth.json."""
    from merge_ros.evaluation.protocol import load_ground_truth, predictions_from_events, score_scene

    return score_scene(load_ground_truth(Path(folder) / "ground_truth.json"), predictions_from_events(events),
                       tolerance)
