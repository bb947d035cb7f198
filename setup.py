"""pip install of the Python package and its `merge-ros` command.

The ROS 2 build (colcon, CMakeLists.txt) installs the same package together with the generated messages;
pip alone gives the ROS-free core (evaluation, synthetic scenes, bags) and the command line; the extras add what
the models need: `perception` (detectors, trackers and the appearance embedder), `vlm` (the transformers backend).
tools/requirements.txt pins every one of them to the versions tested.
"""
from setuptools import find_packages, setup

setup(
    name="merge_ros",
    version="0.1.0",
    description="MERGE: perception-guided VLM reasoning for multi-actor event grounding, for ROS 2",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["merge_ros", "merge_ros.*"]),
    package_data={"merge_ros": ["py.typed"]},
    install_requires=[
        "numpy",
        "opencv-python",
        "pyyaml",
        "scipy",
        "rosbags",
        "matplotlib",
        "httpx",
        "psutil",
    ],
    extras_require={
        "perception": ["torch", "torchvision", "ultralytics", "lap", "deep-sort-realtime"],
        "vlm": ["torch", "transformers", "pillow"],
    },
    entry_points={
        "console_scripts": [
            "merge-ros = merge_ros.cli:main",
            "merge-ros-perception-node = merge_ros.ros.perception_node:main",
            "merge-ros-event-node = merge_ros.ros.event_node:main",
            "merge-ros-vlm-node = merge_ros.ros.vlm_node:main",
            "merge-ros-grounding-node = merge_ros.ros.grounding_node:main",
        ]
    },
)
