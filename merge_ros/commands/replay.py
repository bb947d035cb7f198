"""`merge-ros replay BAG`: publish a bag's topics live (merge_ros.replay.Replayer), then exit; Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from merge_ros.commands.arguments import non_negative

LOG = logging.getLogger(__name__)


def _remap(text: str) -> tuple[str, str]:
    old, sep, new = text.partition(":=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"expected OLD:=NEW, got {text!r}")
    return old, new


def add_ros_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ros-args", nargs=argparse.REMAINDER, default=[], metavar="...",
                        help="ROS arguments for the node (e.g. -r __ns:=/robot1), the rest of the line")


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


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Make SIGINT and SIGTERM set the yielded event instead of raising or shutting rclpy down under the node.

    rclpy's own handler invalidates the context at once, so whatever the node is doing (creating a subscription,
    writing a message) fails half-way; here the command notices the event and ends in order: stop, close the
    bag, destroy the node, shut rclpy down. Use with rclpy.init(signal_handler_options=SignalHandlerOptions.NO).
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def spin_until(node, finished: Callable[[], bool], stop: threading.Event) -> bool:
    """Spin node until finished() or stop is set; True when stopped before finishing.

    The executor spins in a thread of its own and this (main) thread only watches the two conditions, so a
    signal is acted on within 50 ms even if a wait inside the executor does not return (seen once in about
    40 interrupted runs with Fast DDS); the spin thread is a daemon and cannot keep the process alive.
    """
    from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    halt = threading.Event()

    def spin() -> None:
        try:
            while not halt.is_set():
                executor.spin_once(timeout_sec=0.1)
        except (ExternalShutdownException, ShutdownException):
            pass

    thread = threading.Thread(target=spin, name="spin", daemon=True)
    thread.start()
    while not stop.wait(0.05) and not finished():
        pass
    halt.set()
    thread.join(timeout=2.0)
    if thread.is_alive():
        LOG.warning("the executor did not stop within 2 s; leaving it behind")
    else:
        executor.shutdown(timeout_sec=0)
    return not finished()


def init_ros(ros_args: list[str]) -> None:
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=["merge-ros", "--ros-args", *ros_args], signal_handler_options=SignalHandlerOptions.NO)


def run(args: argparse.Namespace) -> int:
    import rclpy

    from merge_ros.io.bags import BagError
    from merge_ros.replay import Replayer, ReplayOptions

    try:
        options = ReplayOptions(rate=args.rate, topics=args.topics, remap=dict(args.remap), clock=args.clock,
                                clock_hz=args.clock_hz, wait_subscribers=args.wait_subscribers,
                                wait_timeout=args.wait_timeout, reliable=args.reliable)
    except ValueError as exc:
        LOG.error("%s", exc)
        return 2
    with stop_on_signals() as stop:
        init_ros(args.ros_args)
        try:
            try:
                replayer = Replayer(args.bag, options)
            except BagError as exc:
                LOG.error("%s", exc)
                return 2
            if not stop.is_set():
                replayer.start()
            interrupted = spin_until(replayer, lambda: replayer.done, stop)
            replayer.stop()
            LOG.info("%s %d message(s) from %s%s%s", "interrupted after" if interrupted else "published",
                     replayer.total_published, args.bag,
                     f", skipped {sum(replayer.malformed.values())} malformed" if any(replayer.malformed.values())
                     else "",
                     f", not replayed: {', '.join(replayer.skipped_topics)}" if replayer.skipped_topics else "")
            failed = replayer.error is not None and not interrupted
            replayer.destroy_node()
            return 1 if failed else 0
        finally:
            rclpy.try_shutdown()
