"""The one way a node runs as its own process: init, spin until SIGINT or SIGTERM, clean shutdown, and an exit code
that says why it stopped (0: asked to stop; 2: a bad parameter or a model that cannot load, with one fatal log
line naming it; 1: an unexpected error, with its traceback).

Why not rclpy's own signal handlers: a Ctrl-C under `ros2 launch` delivers SIGINT twice, a few ms apart (once
from the terminal to the whole process group, once from launch to each node). rclpy's handler shuts the context
down and then raises KeyboardInterrupt wherever the main thread is, and the second signal lands in the middle of
destroy_node: a traceback, and launch reports exit code -2. So rclpy installs none here. The executor spins in
a thread while the main thread waits for the first SIGINT/SIGTERM; it then stops the executor, shuts the node
down (lifecycle nodes release their models) and exits 0; every later signal is absorbed. While the node is still
being built (a model loading during autostart), the first signal interrupts the build instead of waiting for it.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

EXIT_BAD_PARAMETER = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """SIGINT/SIGTERM handler: the first signal sets `requested` (and, while `interruptible`, raises
    KeyboardInterrupt to abort a build in progress); later ones are absorbed, so none interrupts the shutdown."""

    def __init__(self, interruptible: bool = True) -> None:
        self.requested = threading.Event()
        self.interruptible = interruptible
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        self._previous = {s: signal.signal(s, self) for s in STOP_SIGNALS}

    def restore(self) -> None:
        """Put the previous handlers back, unless a stop was asked: a process that is going down ignores further
        signals to its last instruction. SIG_IGN rather than this handler: Python's finalization resets handlers
        it installed to SIG_DFL, and a late SIGINT (launch's, some 100 ms after the terminal's) would then still
        kill the exiting process (exit code -2)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.requested.is_set() else handler)

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        first = not self.requested.is_set()
        self.requested.set()
        if first and self.interruptible:
            raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """For a command's main thread (`merge-ros run`, replay, record): SIGINT and SIGTERM set the yielded event
    instead of raising, so the command notices it and ends in order; signals after the first are absorbed until
    the process has exited (StopSignals.restore)."""
    stop = StopSignals(interruptible=False)
    stop.install()
    try:
        yield stop.requested
    finally:
        stop.restore()


class _Spinner:
    """Spins an executor in a background thread until stopped; an exception from a callback stops it too and is
    kept for the main thread to re-raise."""

    def __init__(self, executor: Executor, on_exit: Callable[[], None]) -> None:
        self.executor = executor
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._run, name="spin", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._done.is_set():
                self.executor.spin_once(timeout_sec=1.0)
        except BaseException as exc:  # handed to the main thread, which re-raises it
            self.error = exc
        finally:
            self._on_exit()

    def stop(self) -> None:
        """Stop between two callbacks (a callback in progress finishes), then release the executor."""
        self._done.set()
        self.executor.wake()
        self._thread.join(timeout=30.0)
        self.executor.shutdown(timeout_sec=5.0)


def run_node(name: str, make: Callable[[], Node], args: list[str] | None = None, *, multithreaded: bool = False,
             load_errors: tuple[type[BaseException], ...] = ()) -> int:
    """make() builds the node once rclpy is up (a managed node with autostart also configures and activates in
    it); a ValueError, a ParameterException or one of load_errors from it ends the process with
    EXIT_BAD_PARAMETER and one fatal line."""
    stop = StopSignals()
    stop.install()
    node: Node | None = None
    spinner: _Spinner | None = None
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        node = make()
        stop.interruptible = False
        executor = MultiThreadedExecutor() if multithreaded else SingleThreadedExecutor()
        executor.add_node(node)
        spinner = _Spinner(executor, on_exit=stop.requested.set)
        stop.requested.wait()
    except KeyboardInterrupt:  # the first signal came while the node was being built
        pass
    except (ValueError, ParameterException, *load_errors) as exc:  # ours (ParameterError is one) or rclpy's
        stop.interruptible = False
        rclpy.logging.get_logger(name).fatal(f"bad parameter: {exc}")
        return EXIT_BAD_PARAMETER
    finally:
        stop.interruptible = False
        _shut_down(spinner, node)
        stop.restore()
    if spinner is not None and spinner.error is not None:
        raise spinner.error
    return 0


def _shut_down(spinner: _Spinner | None, node: Node | None) -> None:
    """Stop spinning before destroying the node (a node destroyed under a waiting executor breaks it)."""
    if spinner is not None:
        spinner.stop()
    if node is not None:
        node.destroy_node()
    rclpy.try_shutdown()
