"""What grounding looks like: rviz markers in the image plane and an annotated debug frame, drawn from the same
layout (colours, captions, relation segments) so the two views always agree. No rclpy here."""
