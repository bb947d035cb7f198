"""A ROS domain of its own, localhost only, for the benchmarks that start a whole graph.

The graph's nodes have the names and topics of a live graph (perception_node, /events, /tf): on a robot's domain
they would publish into its stack and answer its lifecycle manager, and the robot's own perception_node (or one
still shutting down from a previous run) would answer the benchmark's probes. rclpy and `ros2 launch` read the
environment when they start, so setting it here covers this process's contexts and every process it launches.
"""
from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

# domain IDs whose DDS ports stay clear of Linux's ephemeral range (ROS 2's "choosing a domain ID")
SAFE_DOMAINS = range(1, 102)
_VARIABLES = ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")


@contextmanager
def private_domain(rng: random.Random | None = None) -> Iterator[int]:
    """Within the block, ROS_DOMAIN_ID is a domain other than the caller's and discovery stays on this machine;
    the caller's environment is restored afterwards. Yields the domain ID."""
    current = os.environ.get("ROS_DOMAIN_ID", "0")
    domain = (rng or random.SystemRandom()).choice([d for d in SAFE_DOMAINS if str(d) != current])
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    try:
        yield domain
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
