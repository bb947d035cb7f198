"""Streaming change detection over entity frames: triggers with tentative actions, and perception's candidate
events. Plain Python (numpy), no rclpy: event_node and the offline pipeline share it."""
from merge_ros.events.change_detector import ChangeDetector, DetectorStats
from merge_ros.events.config import ChangeDetectorConfig
from merge_ros.events.tentative import CANDIDATE_ACTIONS, REASONING_REASONS, REASONS

__all__ = ["CANDIDATE_ACTIONS", "REASONING_REASONS", "REASONS", "ChangeDetector", "ChangeDetectorConfig",
           "DetectorStats"]
