"""Shared fixtures: an isolated ROS domain per test session and a fresh rclpy context per test."""
from __future__ import annotations

import os
import random

# Before rclpy loads: keep DDS traffic of this test session on the loopback and off other sessions' domains.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 200)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import pytest


@pytest.fixture
def ros_context():
    """An initialised rclpy context, shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    if context.ok():
        rclpy.shutdown(context=context)
