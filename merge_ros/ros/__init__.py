"""rclpy nodes: thin adapters between ROS topics/services/parameters and the ROS-free core."""
