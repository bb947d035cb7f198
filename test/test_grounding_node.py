"""grounding_node over DDS: stage steps in, events/scene/markers/debug image out, services, and a SIGKILL restart."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from grounding_samples import at, cand, frame, person, thing
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosutil import spin_until, wait_for_subscribers
from sensor_msgs.msg import Image
from visualization_msgs.msg import MarkerArray

from merge_ros.config import load_config
from merge_ros.io.event_log import read_events
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import SceneState, StageStep
from merge_ros.ros import conversions
from merge_ros.srv import GetEvents, GetScene
from merge_ros.types import EntityFrame, Event
from merge_ros.types import StageStep as CoreStep

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
PARAMS = Path(__file__).resolve().parents[1] / "config" / "merge.yaml"
FAST = {"confirm_s": 0.0, "confirm_frames": 0, "vlm_wait_s": 0.0, "scene_rate_hz": 20.0, "stream_idle_s": 0.2}


class Peer:
    """The rest of the graph, seen from the grounding node: publishes its inputs, collects its outputs."""

    def __init__(self, context, executor):
        import rclpy

        self.node = rclpy.create_node("grounding_peer", context=context)
        executor.add_node(self.node)
        self.executor = executor
        self.events: list[Event] = []
        self.matches = 0  # subscriptions ever matched to `stage_steps`: a restarted node is a new match, while
        # the killed one may still count as a current subscriber until its DDS lease expires
        self.steps = self.node.create_publisher(StageStep, "stage_steps", RELIABLE, event_callbacks=(
            PublisherEventCallbacks(matched=lambda status: setattr(self, "matches", status.total_count))))
        self.node.create_subscription(EventMsg, "events", lambda m: self.events.append(conversions.event_from_msg(m)),
                                      RELIABLE)

    def call(self, srv_type, name, request, attempts: int = 5):
        """Retried: a killed server can look available until its lease expires, and a request sent before the
        new server matched the reply path gets no answer."""
        client = self.node.create_client(srv_type, name)
        try:
            for _ in range(attempts):
                assert spin_until(self.executor, client.service_is_ready), f"{name} not available"
                future = client.call_async(request)
                if spin_until(self.executor, future.done, 3.0):
                    return future.result()
                client.remove_pending_request(future)
            raise AssertionError(f"{name}: no answer")
        finally:
            self.node.destroy_client(client)

    def wait_new_node(self, matches_before: int) -> bool:
        return spin_until(self.executor, lambda: self.matches > matches_before, 20.0)

    def history(self, **query) -> list[Event]:
        reply = self.call(GetEvents, "get_events", GetEvents.Request(**query))
        return [conversions.event_from_msg(m) for m in reply.events]

    def send(self, c: Event) -> None:
        """A candidate on its own, as event_node sends a VLM answer that arrives between frames."""
        self.steps.publish(conversions.stage_step_to_msg(CoreStep(c.stamp_ns, "camera", None, [c])))

    def observe(self, entities: EntityFrame) -> None:
        """An entity frame that produced no candidate."""
        self.steps.publish(conversions.stage_step_to_msg(CoreStep(entities.stamp_ns, entities.frame_id, entities)))

    def wait_events(self, count: int, timeout: float = 10.0) -> bool:
        return spin_until(self.executor, lambda: len(self.events) >= count, timeout)


def test_node_over_dds_end_to_end(ros_context):
    from merge_ros.ros.grounding_node import GroundingNode

    node = GroundingNode(context=ros_context, parameter_overrides=[
        Parameter(k, value=v) for k, v in {**FAST, "debug_image_always": False, "recent_events": 4}.items()])
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    peer = Peer(ros_context, executor)
    images, markers = [], []
    peer.node.create_subscription(Image, "debug_image", images.append, 1)
    peer.node.create_subscription(MarkerArray, "markers", markers.append, 1)
    camera = peer.node.create_publisher(Image, "image", 1)
    assert wait_for_subscribers(executor, peer.steps)
    assert wait_for_subscribers(executor, camera)

    peer.observe(frame(0.0, person("person_1", 40), thing("cup_1", "cup", 120, 190),
                       thing("tray_1", "tray", 300, 300, 80)))
    for c in (cand(0.1, "person_1", "grasp", "cup_1"), cand(0.1, "person_1", "juggle", "cup_1"),  # invalid: skipped
              cand(1.0, "person_1", "grasp", "cup_1"),  # identical to the previous event: not repeated
              cand(2.0, "person_1", "place_down", "cup_1", "on", "tray_1", source="vlm", confidence=0.9)):
        peer.send(c)
    assert peer.wait_events(2)
    spin_until(executor, lambda: False, 0.3)  # nothing more may come
    assert [(e.event_id, e.action, e.source) for e in peer.events] == [
        ("evt-000001", "grasp", "grounding"), ("evt-000002", "place_down", "grounding")]
    assert node.model.stats["rejected"] == 1 and node.model.stats["duplicates"] == 1

    # a subscriber that comes late still gets the current scene (TRANSIENT_LOCAL)
    scenes: list[SceneState] = []
    peer.node.create_subscription(SceneState, "scene", scenes.append, LATCHED)
    assert spin_until(executor, lambda: bool(scenes))
    scene = conversions.scene_from_msg(scenes[-1])
    assert scene.event_count == 2 and [(r.subject_id, r.predicate, r.object_id) for r in scene.relations] == [
        ("cup_1", "on", "tray_1")]
    assert [e.id for e in scene.entities] == ["cup_1", "person_1", "tray_1"]

    served = conversions.scene_from_msg(peer.call(GetScene, "get_scene", GetScene.Request()).scene)
    assert served.relations == scene.relations and served.event_count == 2
    assert [e.event_id for e in peer.history()] == ["evt-000001", "evt-000002"]
    assert [e.action for e in peer.history(object_id="tray_1")] == ["place_down"]
    assert peer.history(actor_id="person_2") == []
    assert [e.event_id for e in peer.history(start=conversions.ns_to_time(at(0.5)))] == ["evt-000002"]

    assert spin_until(executor, lambda: any(m.ns == "labels" for a in markers for m in a.markers))
    labels = {m.text for m in markers[-1].markers if m.ns == "labels"}
    assert labels == {"cup_1", "person_1", "tray_1"}

    assert wait_for_subscribers(executor, node._image_pub)
    frame_bgr = np.full((240, 320, 3), 100, np.uint8)
    camera.publish(conversions.image_msg(frame_bgr, "bgr8", at(2.5), "camera"))
    assert spin_until(executor, lambda: bool(images))
    drawn = conversions.image_msg_to_bgr8(images[-1])
    assert drawn.shape[1] == 320 and drawn.shape[0] > 240 and (drawn[:240] != 100).any()
    assert images[-1].header.stamp == conversions.ns_to_time(at(2.5))
    bad = Image(encoding="bgr8", width=10, height=10, step=30, data=b"\x00" * 7)  # truncated: skipped, counted
    camera.publish(bad)
    assert spin_until(executor, lambda: node.bad_images == 1)
    odd = conversions.stage_step_to_msg(CoreStep(at(3.0), "camera", frame(3.0, person("person_1", 40))))
    odd.entities[0].kind = 7  # no such kind
    peer.steps.publish(odd)
    assert spin_until(executor, lambda: node.bad_steps == 1)
    served = conversions.scene_from_msg(peer.call(GetScene, "get_scene", GetScene.Request()).scene)
    assert served.event_count == 2  # still serving
    executor.shutdown()
    node.destroy_node()


def test_parameter_file_section_is_accepted_and_bad_values_are_refused(ros_context):
    import rclpy
    from rclpy.context import Context
    from rclpy.exceptions import ParameterException

    from merge_ros.ros.grounding_node import GroundingNode

    context = Context()
    rclpy.init(args=["grounding_node", "--ros-args", "--params-file", str(PARAMS)], context=context)
    try:
        node = GroundingNode(context=context)
        section = load_config(PARAMS)["grounding_node"]
        assert node.params == section  # every parameter is in the file, and every one in the file is declared
        descriptors = node.describe_parameters(["confirm_s", "recent_events"])
        assert descriptors[0].floating_point_range[0].to_value == 60.0 and descriptors[0].description
        assert descriptors[1].integer_range[0].from_value == 0
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    with pytest.raises(ParameterException, match="confirm_s"):
        GroundingNode(context=ros_context, parameter_overrides=[Parameter("confirm_s", value=-1.0)])


def test_unreadable_journal_is_left_alone_and_the_node_runs_without_one(ros_context, tmp_path):
    from merge_ros.ros.grounding_node import GroundingNode

    journal = tmp_path / "journal.jsonl"
    journal.write_text("garbage\n{}\n")
    node = GroundingNode(context=ros_context, parameter_overrides=[
        Parameter("journal_path", value=str(journal)), *(Parameter(k, value=v) for k, v in FAST.items())])
    assert node.model.journal is None
    node.model.add_candidate(cand(0.0, "person_1", "grasp", "cup_1"))
    assert len(node.model.finish()) == 1 and journal.read_text() == "garbage\n{}\n"
    node.destroy_node()


def _start_node(journal, log) -> subprocess.Popen:
    args = [sys.executable, "-m", "merge_ros.ros.grounding_node", "--ros-args", "-p", f"journal_path:={journal}",
            "-p", "debug_image:=false"] + [a for k, v in FAST.items() for a in ("-p", f"{k}:={v}")]
    return subprocess.Popen(args, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)


def _stream() -> list[Event]:
    """Three persons each grasping and placing objects in turn: every candidate is a new event."""
    out = []
    for i in range(36):
        actor, turn = f"person_{i % 3 + 1}", i // 3
        obj = f"object_{turn // 2}_{i % 3}"
        out.append(cand(float(i), actor, "grasp", obj) if turn % 2 == 0 else
                   cand(float(i), actor, "place_down", obj, "on", "table_1"))
    return out


@pytest.mark.slow
def test_sigkill_mid_stream_and_restart_lose_and_duplicate_no_confirmed_event(ros_context, tmp_path):
    journal = tmp_path / "journal.jsonl"
    log = (tmp_path / "node.log").open("w")
    executor = SingleThreadedExecutor(context=ros_context)
    peer = Peer(ros_context, executor)
    stream = _stream()
    proc = _start_node(journal, log)
    try:
        assert peer.wait_new_node(0), "node did not come up"
        for c in stream[:12]:
            peer.send(c)
            spin_until(executor, lambda: False, 0.01)
        assert peer.wait_events(8)
        for c in stream[12:16]:  # a burst, and the kill right behind it: some confirmed, some pending or in flight
            peer.send(c)
        time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        for c in stream[16:20]:  # sent while the node is down: lost as candidates, never confirmed
            peer.send(c)
        spin_until(executor, lambda: False, 0.3)  # whatever the node published before it died
        before_kill, matches = list(peer.events), peer.matches
        proc = _start_node(journal, log)
        assert peer.wait_new_node(matches), "node did not come back"
        restored = peer.history()
        assert restored == read_events(journal)  # the service serves what the journal holds
        assert [e.event_id for e in restored] == [f"evt-{i:06d}" for i in range(1, len(restored) + 1)]
        assert all(e in restored for e in before_kill)  # nothing published was lost; same IDs, same content
        # the restored model remembers each actor's last event: a repeat of it is not a new event
        last = restored[-1]
        peer.send(Event(at(100.0), last.actor_id, last.action, last.object_id, last.relation, last.target_id))
        for c in stream[20:]:
            peer.send(replace(c, stamp_ns=c.stamp_ns + at(100.0) - at(0.0)))
            spin_until(executor, lambda: False, 0.01)
        assert peer.wait_events(len(before_kill) + len(stream) - 20)
        spin_until(executor, lambda: False, 0.3)
        history = peer.history()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
        log.close()
    assert proc.returncode == 0, (tmp_path / "node.log").read_text()
    ids = [e.event_id for e in history]
    assert ids == [f"evt-{i:06d}" for i in range(1, len(history) + 1)]  # no gap, no duplicate
    assert history[:len(restored)] == restored and all(e in history for e in peer.events)
    assert len({e.event_id for e in peer.events}) == len(peer.events)  # no event published twice
    keys = [(e.stamp_ns, e.key()) for e in history]
    assert len(set(keys)) == len(keys)  # no candidate confirmed twice
    assert not any(e.stamp_ns == at(100.0) for e in history)  # the repeated last event
    assert len(history) >= len(before_kill) + len(stream) - 20
    assert read_events(journal) == history
