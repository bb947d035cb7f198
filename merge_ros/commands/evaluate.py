"""`merge-ros evaluate`: score predictions against GROUND ground truth with the paper's protocol.

    merge-ros evaluate --scenes ROOT --method NAME [--tolerance 5] [--format table|json] [--report DIR]
    merge-ros evaluate --gt ground_truth.json --pred PATH [--topic /events] [...]

PATH is a run folder of `<stamp>_id_<person>.json` files, a JSON-lines event log, or a rosbag2 bag (directory,
.mcap or .db3) with merge_ros/msg/Event on --topic.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from merge_ros.commands.arguments import non_negative
from merge_ros.io.event_log import DEFAULT_TOPIC

LOG = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluate", help="score predictions against GROUND ground truth",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenes", type=Path, metavar="ROOT",
                        help="score every scene folder under ROOT that has runs/METHOD")
    source.add_argument("--gt", type=Path, metavar="FILE", help="one scene's ground_truth.json (needs --pred)")
    parser.add_argument("--pred", type=Path, metavar="PATH",
                        help="predictions of that scene: run folder, .jsonl event log or rosbag2 bag")
    parser.add_argument("--method", help="run name under <scene>/runs/ (required with --scenes; a label otherwise)")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help="Event topic in a bag (default %(default)s)")
    parser.add_argument("--tolerance", type=non_negative, default=5.0, metavar="SECONDS",
                        help="matching window, +- seconds (default %(default)g)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output (default table)")
    parser.add_argument("--report", type=Path, metavar="DIR", help="also write DIR/index.html with timeline plots")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    from merge_ros.evaluation.runs import EvaluationResult, evaluate_scene, evaluate_scenes
    from merge_ros.evaluation.table import format_table

    if args.scenes is not None and not args.method:
        args.parser.error("--scenes needs --method NAME")
    if args.gt is not None and args.pred is None:
        args.parser.error("--gt needs --pred PATH")
    try:
        if args.scenes is not None:
            result = evaluate_scenes(args.scenes, args.method, args.tolerance, args.topic)
        else:
            method = args.method or args.pred.resolve().name
            scene = evaluate_scene(args.gt.resolve().parent.name, args.gt, args.pred, method, args.tolerance,
                                   args.topic)
            result = EvaluationResult(method, args.tolerance, [scene])
    except (OSError, ValueError) as exc:
        print(f"merge-ros evaluate: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_table(result))
    if args.report is not None:
        from merge_ros.evaluation.report import write_report

        LOG.info("report written to %s", write_report(args.report, result))
    return 0
