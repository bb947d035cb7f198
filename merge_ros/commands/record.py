"""`merge-ros record TOPIC... -o BAG`: write topics to a rosbag2 (merge_ros.ros.record.Recorder); Ctrl-C closes the bag.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from merge_ros.commands.arguments import add_ros_args
from merge_ros.io.bags import STORAGES

LOG = logging.getLogger(__name__)


def _typed(text: str) -> tuple[str, str]:
    topic, sep, msgtype = text.partition("=")
    if not sep or not topic or msgtype.count("/") != 2:
        raise argparse.ArgumentTypeError(f"expected TOPIC=pkg/msg/Type, got {text!r}")
    return topic, msgtype


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("record", help="record topics to a rosbag2",
                            description="Record topics into a new rosbag2. Each topic is subscribed once a "
                                        "publisher is discovered (type from the graph, QoS adapted to the "
                                        "publishers), or at once with --type. Stops at --count, --duration or "
                                        "Ctrl-C; the bag is closed and valid in every case.")
    parser.add_argument("topics", nargs="+", metavar="TOPIC")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="BAG",
                        help="bag directory to create (must not exist)")
    parser.add_argument("--storage", choices=tuple(STORAGES), default="mcap", help="storage (default %(default)s)")
    parser.add_argument("--stamp", choices=("header", "receive"), default="header",
                        help="bag time: header stamp when the message has one, or receive time (default header)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N messages (all topics together)")
    parser.add_argument("--type", type=_typed, action="append", default=[], dest="types",
                        metavar="TOPIC=pkg/msg/Type", help="subscribe at once with this type (repeatable)")
    add_ros_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from merge_ros.ros.record import Recorder, RecordOptions
    from merge_ros.ros.session import EXIT_BAD_INPUT, run_bag_node

    try:
        options = RecordOptions(topics=args.topics, types=dict(args.types), storage=args.storage, stamp=args.stamp,
                                duration=args.duration, count=args.count)
    except ValueError as exc:
        LOG.error("%s", exc)
        return EXIT_BAD_INPUT

    def finish(recorder: Recorder, interrupted: bool) -> int:
        recorder.close()
        LOG.info("%s: %d message(s)%s%s", args.output, recorder.total, " (interrupted)" if interrupted else "",
                 f", never discovered: {', '.join(recorder.waiting_for)}" if recorder.waiting_for else "")
        return 0

    return run_bag_node(args.ros_args, lambda: Recorder(args.output, options), lambda r: r.done, finish)
