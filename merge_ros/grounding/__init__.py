"""Grounding: the persistent situational model (entities, current relations, confirmed event history) and its
journal. Plain Python, no rclpy: the grounding node and the offline pipeline both drive a WorldModel."""
from merge_ros.grounding.journal import Journal, JournalError
from merge_ros.grounding.world_model import GroundingConfig, WorldModel

__all__ = ["GroundingConfig", "Journal", "JournalError", "WorldModel"]
