"""`merge-ros replay BAG`: publish a bag's topics live (merge_ros.ros.replay.Replayer), then exit; Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from merge_ros.commands.arguments import add_ros_args, non_negative

LOG = logging.getLogger(__name__)


def _remap(text: str) -> tuple[str, str]:
    old, sep, new = text.partition(":=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"expected OLD:=NEW, got {text!r}")
    return old, new


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("replay", help="publish a bag's topics live with their timing",
                            description="Publish the topics of a rosbag2 (directory in mcap or sqlite3 storage, "
                                        "or a bare .mcap / .db3 file) with the bag's timing and offered QoS. "
                                        "Playback starts once the replayed topics have --wait-subscribers matched "
                                        "subscriptions and every subscriber the ROS graph knows is matched, or "
                                        "after --wait-timeout seconds.")
    parser.add_argument("bag", type=Path, metavar="BAG")
    parser.add_argument("--rate", type=non_negative, default=1.0,
                        help="playback speed factor; 0 = as fast as possible, in order (default %(default)g)")
    parser.add_argument("--topics", nargs="+", default=[], metavar="TOPIC", help="replay only these bag topics")
    parser.add_argument("--remap", type=_remap, action="append", default=[], metavar="OLD:=NEW",
                        help="publish bag topic OLD as NEW (repeatable)")
    parser.add_argument("--clock", action="store_true", help="publish the bag time on /clock")
    parser.add_argument("--clock-hz", type=float, default=40.0, help="/clock rate between messages (default 40)")
    parser.add_argument("--wait-subscribers", type=int, default=1, metavar="N",
                        help="matched subscriptions (all topics together) to wait for; 0 = start at once "
                             "(default %(default)s)")
    parser.add_argument("--wait-timeout", type=non_negative, default=10.0, metavar="SECONDS",
                        help="start anyway after this long; inf = wait forever (default %(default)g)")
    parser.add_argument("--reliable", action="store_true",
                        help="publish volatile topics reliable with KEEP_ALL history: reliable subscribers (such as "
                             "merge-ros record) get every message, the replay waits for them; for --rate 0")
    add_ros_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from merge_ros.ros.replay import Replayer, ReplayOptions
    from merge_ros.ros.session import EXIT_BAD_INPUT, run_bag_node

    try:
        options = ReplayOptions(rate=args.rate, topics=args.topics, remap=dict(args.remap), clock=args.clock,
                                clock_hz=args.clock_hz, wait_subscribers=args.wait_subscribers,
                                wait_timeout=args.wait_timeout, reliable=args.reliable)
    except ValueError as exc:
        LOG.error("%s", exc)
        return EXIT_BAD_INPUT

    def finish(replayer: Replayer, interrupted: bool) -> int:
        replayer.stop()
        LOG.info("%s %d message(s) from %s%s%s", "interrupted after" if interrupted else "published",
                 replayer.total_published, args.bag,
                 f", skipped {sum(replayer.malformed.values())} malformed" if any(replayer.malformed.values())
                 else "",
                 f", not replayed: {', '.join(replayer.skipped_topics)}" if replayer.skipped_topics else "")
        return 1 if replayer.error is not None and not interrupted else 0

    return run_bag_node(args.ros_args, lambda: Replayer(args.bag, options), lambda r: r.done, finish,
                        start=lambda r: r.start())
