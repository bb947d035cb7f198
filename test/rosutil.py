"""Helpers for tests that run real rclpy nodes over DDS."""
from __future__ import annotations

import time
from collections.abc import Callable


def spin_until(executor, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Spin executor until condition() is true or timeout seconds pass; return condition()."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return condition()


def wait_for_subscribers(executor, publisher, count: int = 1, timeout: float = 10.0) -> bool:
    """Discovery takes 0.05 s to ~3 s with Fast DDS: wait for matched subscribers before publishing."""
    return spin_until(executor, lambda: publisher.get_subscription_count() >= count, timeout)
