"""The one way a bag command (`merge-ros replay`, `merge-ros record`) runs its node: rclpy without its own signal
handling, SIGINT and SIGTERM noticed by the command, the node spun until it is done or stopped, and an end in
order (stop, close, destroy, shut down) with an exit code."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from merge_ros.io.bags import BagError
from merge_ros.ros.entry import stop_on_signals

LOG = logging.getLogger(__name__)
N = TypeVar("N", bound=Node)
EXIT_BAD_INPUT = 2


def spin_until(node: Node, finished: Callable[[], bool], stop: threading.Event) -> bool:
    """Spin node until finished() or stop is set; True when stopped before finishing.

    The executor spins in a thread of its own and this (main) thread only watches the two conditions, so a
    signal is acted on within 50 ms even if a wait inside the executor does not return (seen once in about
    40 interrupted runs with Fast DDS); the spin thread is a daemon and cannot keep the process alive.
    """
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


def run_bag_node(ros_args: list[str], make: Callable[[], N], done: Callable[[N], bool],
                 finish: Callable[[N, bool], int], start: Callable[[N], None] = lambda node: None) -> int:
    """Make the node (a BagError: logged, exit 2), start it unless a signal came first, spin it until done(node)
    or a signal, then finish(node, interrupted) -> exit code; the node is destroyed and rclpy shut down after."""
    with stop_on_signals() as stop:
        rclpy.init(args=["merge-ros", "--ros-args", *ros_args], signal_handler_options=SignalHandlerOptions.NO)
        try:
            try:
                node = make()
            except BagError as exc:
                LOG.error("%s", exc)
                return EXIT_BAD_INPUT
            if not stop.is_set():
                start(node)
            interrupted = spin_until(node, lambda: done(node), stop)
            code = finish(node, interrupted)
            node.destroy_node()
            return code
        finally:
            rclpy.try_shutdown()
