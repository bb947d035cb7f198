"""grounding_node: candidate events and entity frames in; confirmed events, the scene, rviz markers and an
annotated debug image out; the scene and the event history on request.

A thin adapter around merge_ros.grounding.WorldModel. Time is stream time: entity frames and candidates move
the model's clock by their stamps; between messages a timer extrapolates it with the wall clock, so pending
candidates still confirm when the stream pauses or ends. With `journal_path` set, every confirmed event is on
disk before it is published, and a restarted node carries on with the same state, history and event IDs.

The debug image draws the model's latest scene (every entity where it was last seen, those missing from the
latest entity frame marked "not seen") on each camera frame; it is only drawn while someone subscribes to
debug_image (or debug_image_always is set), so an unwatched node does no drawing work.
"""
from __future__ import annotations

import time

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from merge_ros import conversions as cv
from merge_ros.grounding import Journal, JournalError, WorldModel
from merge_ros.grounding.parameters import GROUNDING_PARAMETERS, config_from_params
from merge_ros.io.images import ImageError
from merge_ros.msg import EntityArray, SceneState
from merge_ros.msg import Event as EventMsg
from merge_ros.nodes.entry import run_node
from merge_ros.nodes.parameters import declare_all
from merge_ros.srv import GetEvents, GetScene
from merge_ros.types import EntityFrame, Event
from merge_ros.visualization.debug_image import draw_debug_image
from merge_ros.visualization.markers import MarkerBuilder

# Confirmed events and candidates: none may be lost, a burst of them must not be either.
EVENTS_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# Entity frames: every one counts for temporal consistency (matches perception_node's reliable publisher).
ENTITIES_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
# The scene is state: a late subscriber (rviz, a planner started later) gets the latest one at once.
SCENE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Camera frames for the debug image: only the newest one is worth drawing on.
IMAGE_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
# Outputs for display: keep the latest only; a reliable publisher matches reliable and best-effort subscribers.
DISPLAY_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
LOG_THROTTLE_S = 5.0

class GroundingNode(Node):
    def __init__(self, node_name: str = "grounding_node", **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...)."""
        super().__init__(node_name, **kwargs)
        p = declare_all(self, GROUNDING_PARAMETERS)
        self.params = p
        self.journal = self._open_journal(p["journal_path"], p["journal_fsync"])
        self.model = WorldModel(config_from_params(p), self.journal)
        self.markers = MarkerBuilder(p["marker_scale"], p["marker_frame"])
        self.bad_images = 0
        self.bad_entity_frames = 0
        self._latest_frame: EntityFrame | None = None
        self._stream_ns = self.model.now_ns  # latest stream stamp, and when (monotonic) it arrived
        self._stream_at = time.monotonic()
        self._published_revision = -1

        self._events_pub = self.create_publisher(EventMsg, "events", EVENTS_QOS)
        self._scene_pub = self.create_publisher(SceneState, "scene", SCENE_QOS)
        self._markers_pub = self.create_publisher(MarkerArray, "markers", DISPLAY_QOS)
        self.create_subscription(EventMsg, "candidates", self._on_candidate, EVENTS_QOS)
        self.create_subscription(EntityArray, "entities", self._on_entities, ENTITIES_QOS)
        self._image_pub = None
        if p["debug_image"]:
            self._image_pub = self.create_publisher(Image, "debug_image", DISPLAY_QOS)
            image_type, topic = (CompressedImage, "image/compressed") if p["compressed"] else (Image, "image")
            self.create_subscription(image_type, topic, self._on_image, IMAGE_QOS)
        self.create_service(GetScene, "get_scene", self._get_scene)
        self.create_service(GetEvents, "get_events", self._get_events)
        self.create_timer(1.0 / p["scene_rate_hz"], self._tick)
        self._publish_scene()  # the restored (or empty) scene, for TRANSIENT_LOCAL subscribers
        self.get_logger().info(
            f"grounding: {self.model.event_count} events restored from {p['journal_path'] or 'no journal'}")

    def _open_journal(self, path: str, fsync: bool) -> Journal | None:
        if not path:
            return None
        try:
            return Journal(path, fsync)
        except JournalError as exc:  # never overwrite a journal that cannot be read: run without one
            self.get_logger().error(f"{exc}; running WITHOUT a journal (fix or move the file and restart)")
            return None

    # --- inputs ------------------------------------------------------------------------------------------------
    def _on_candidate(self, msg: EventMsg) -> None:
        c = cv.event_from_msg(msg)
        rejected = self.model.stats["rejected"]
        self._publish(self.model.add_candidate(c))
        if self.model.stats["rejected"] > rejected:
            reasons = {k: v for k, v in self.model.stats.items() if k.startswith("rejected (")}
            self.get_logger().warning(f"invalid candidate {c} rejected; so far: {reasons}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
        else:
            self._note_stream(c.stamp_ns)

    def _on_entities(self, msg: EntityArray) -> None:
        try:
            frame = cv.entity_frame_from_msg(msg)
        except ValueError as exc:  # an unknown entity kind
            self.bad_entity_frames += 1
            self.get_logger().warning(f"bad entity frame skipped ({self.bad_entity_frames} so far): {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return
        self._note_stream(frame.stamp_ns)
        self.model.observe(frame)
        self._latest_frame = frame
        self._publish(self.model.flush(frame.stamp_ns))
        if self._markers_pub.get_subscription_count() > 0:  # boxes move every frame
            self._publish_markers()

    def _on_image(self, msg: Image | CompressedImage) -> None:
        if not (self.params["debug_image_always"] or self._image_pub.get_subscription_count() > 0):
            return
        try:
            frame = cv.image_msg_to_bgr8(msg)
        except ImageError as exc:
            self.bad_images += 1
            self.get_logger().warning(f"debug image: bad frame skipped ({self.bad_images} so far): {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return
        visible = {e.id for e in self._latest_frame.entities} if self._latest_frame else set()
        drawn = draw_debug_image(frame, self.model.scene(), self.model.recent_events(self.params["recent_events"]),
                                 visible)
        self._image_pub.publish(cv.image_msg(drawn, "bgr8", cv.time_to_ns(msg.header.stamp), msg.header.frame_id))

    def _tick(self) -> None:
        """Let stream time run on with the wall clock while no message moves it, then republish the scene."""
        if self._stream_ns:
            self._publish(self.model.flush(self._stream_ns + int((time.monotonic() - self._stream_at) * 1e9)))
        self._publish_scene()

    def _note_stream(self, stamp_ns: int) -> None:
        if stamp_ns >= self._stream_ns:
            self._stream_ns, self._stream_at = stamp_ns, time.monotonic()

    # --- outputs -----------------------------------------------------------------------------------------------
    def _publish(self, confirmed: list[Event]) -> None:
        for e in confirmed:
            self._events_pub.publish(cv.event_to_msg(e))
            self.get_logger().info(f"event {e.event_id}: {e.actor_id} {e.action} {e.object_id}"
                                   f"{' ' + e.relation + ' ' + e.target_id if e.relation else ''}")
        if self.model.revision != self._published_revision:
            self._publish_scene()

    def _publish_scene(self) -> None:
        self._published_revision = self.model.revision
        self._scene_pub.publish(cv.scene_to_msg(self.model.scene()))
        self._publish_markers()

    def _publish_markers(self) -> None:
        visible = {e.id for e in self._latest_frame.entities} if self._latest_frame else None
        self._markers_pub.publish(self.markers.build(
            self.model.scene(), self.model.recent_events(self.params["recent_events"]), visible))

    # --- services ----------------------------------------------------------------------------------------------
    def _get_scene(self, _request: GetScene.Request, response: GetScene.Response) -> GetScene.Response:
        response.scene = cv.scene_to_msg(self.model.scene())
        return response

    def _get_events(self, request: GetEvents.Request, response: GetEvents.Response) -> GetEvents.Response:
        events = self.model.events(request.actor_id, request.object_id, cv.time_to_ns(request.start),
                                   cv.time_to_ns(request.end), request.max_events)
        response.events = [cv.event_to_msg(e) for e in events]
        return response

    def destroy_node(self) -> None:
        super().destroy_node()
        if self.journal is not None:
            self.journal.close()


def main(args: list[str] | None = None) -> int:
    return run_node("grounding_node", GroundingNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
