"""A bag from import-ground carries the registered instances: replayed into the nodes, without any scene folder,
perception registers them (entities carry their IDs) and event_node takes the objects as reference crops."""
from __future__ import annotations

import threading
import time

from merge_ros.io.ground_import import import_scene
from merge_ros.msg import EntityArray
from merge_ros.ros import conversions
from merge_ros.ros.graph import Graph
from merge_ros.ros.replay import Replayer, ReplayOptions
from merge_ros.synth import generate_scene


def test_registry_topics_register_instances_in_perception_and_event_node(tmp_path):
    scene = generate_scene(tmp_path / "scene", scenario="sorting", persons=1, robot=True, seed=4, duration_s=6.0)
    import_scene(scene.root, tmp_path / "bag")
    known = set(scene.object_images()) | set(scene.person_images()) | set(scene.robot_images())
    graph = Graph(overrides={
        "perception_node": {"detector": "annotations", "annotations_file": str(scene.annotations_path),
                            "compressed": True, "frame_queue": 100},
        "event_node": {"compressed": True, "use_vlm": False},
    }, nodes=("perception_node", "event_node"))
    seen_ids: set[str] = set()
    lock = threading.Lock()

    def on_entities(msg: EntityArray) -> None:
        with lock:
            seen_ids.update(e.id for e in conversions.entity_frame_from_msg(msg).entities)

    try:
        graph.nodes["perception_node"].create_subscription(EntityArray, "entities", on_entities, 100)
        replayer = graph.add("replay", Replayer(tmp_path / "bag", ReplayOptions(
            rate=0.0, reliable=True, remap={"/camera/image/compressed": "/image/compressed"}, wait_subscribers=4),
            context=graph.context))
        graph.start()
        replayer.start()
        assert replayer.wait(60)
        perception = graph.nodes["perception_node"]
        frames = len(scene.frames())
        deadline = time.monotonic() + 60
        while perception.counters.processed < frames and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert set(perception.registered) == known
        references = set(graph.nodes["event_node"].stage.builder.references)
        assert references == set(scene.object_images())
        with lock:
            assert seen_ids and seen_ids <= known, seen_ids - known  # every entity took a registered ID
    finally:
        graph.shutdown()
