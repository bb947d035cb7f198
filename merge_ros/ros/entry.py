"""The one way a node runs as its own process: init, spin until SIGINT, clean shutdown, and an exit code that
says why it stopped (2: a bad parameter, with one fatal log line naming it; 1: a fatal error the node names)."""
from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

EXIT_FATAL = 1
EXIT_BAD_PARAMETER = 2


def run_node(name: str, make: Callable[[], Node], args: list[str] | None = None, *, multithreaded: bool = False,
             fatal: tuple[type[BaseException], ...] = ()) -> int:
    """make() builds the node once rclpy is up; exceptions in fatal end it with EXIT_FATAL and their message."""
    rclpy.init(args=args)
    node = None
    try:
        node = make()
        executor = MultiThreadedExecutor() if multithreaded else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except fatal as exc:
        rclpy.logging.get_logger(name).fatal(str(exc))
        return EXIT_FATAL
    except (ValueError, ParameterException) as exc:  # ours (ParameterError is one) or rclpy refusing an override
        rclpy.logging.get_logger(name).fatal(f"bad parameter: {exc}")
        return EXIT_BAD_PARAMETER
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
