"""grounding_node: the event stage's steps in; confirmed events, the scene, rviz markers and an annotated debug
image out; the scene and the event history on request.

A thin adapter around merge_ros.grounding.WorldModel, fed only by event_node's stage_steps (each an entity frame
with the candidates it produced, or a VLM answer between frames), in the order event_node produced them: the
same input as the offline path's, so both confirm the same events. Time is stream time, moved by the steps'
stamps; when no step has come for stream_idle_s of wall time (a bag played out, a camera gone), the stream counts
as ended and every pending candidate is confirmed, as the offline path does at its end. With `journal_path` set,
every confirmed event is on disk before it is published, and a restarted node carries on with the same state,
history and event IDs.

The debug image draws the model's latest scene (every entity where it was last seen, those missing from the
latest entity frame marked "not seen") on each camera frame; it is only drawn while someone subscribes to
debug_image (or debug_image_always is set), so an unwatched node does no drawing work.
"""
from __future__ import annotations

import time

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from merge_ros.grounding.parameters import GROUNDING_PARAMETERS, GroundingNodeConfig, build_world
from merge_ros.io.images import ImageError
from merge_ros.msg import Event as EventMsg
from merge_ros.msg import SceneState, StageStep
from merge_ros.params import config_of
from merge_ros.ros import conversions
from merge_ros.ros.entry import run_node
from merge_ros.ros.markers import MarkerBuilder
from merge_ros.ros.parameters import declare_all
from merge_ros.ros.qos import DISPLAY_QOS, LOG_THROTTLE_S, STATE_QOS, STREAM_QOS, subscribe_camera
from merge_ros.srv import GetEvents, GetScene
from merge_ros.topics import (
    DEBUG_IMAGE,
    EVENTS,
    GET_EVENTS_SERVICE,
    GET_SCENE_SERVICE,
    MARKERS,
    SCENE,
    STAGE_STEPS,
    CameraInput,
)
from merge_ros.types import EntityFrame, Event
from merge_ros.visualization.debug_image import draw_debug_image


class GroundingNode(Node):
    def __init__(self, node_name: str = "grounding_node", **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...)."""
        super().__init__(node_name, **kwargs)
        p = declare_all(self, GROUNDING_PARAMETERS)
        self.params = p
        self.settings = config_of(GroundingNodeConfig, p)
        self.model = build_world(p, on_error=self.get_logger().error)
        self.markers = MarkerBuilder(self.settings.marker_scale, self.settings.marker_frame)
        self.bad_images = 0
        self.bad_steps = 0
        self._latest_frame: EntityFrame | None = None
        self._last_step_at: float | None = None  # monotonic time of the latest step; None: none since the last end
        self._published_revision = -1

        self._events_pub = self.create_publisher(EventMsg, EVENTS, STREAM_QOS)
        self._scene_pub = self.create_publisher(SceneState, SCENE, STATE_QOS)
        self._markers_pub = self.create_publisher(MarkerArray, MARKERS, DISPLAY_QOS)
        self.create_subscription(StageStep, STAGE_STEPS, self._on_step, STREAM_QOS)
        self._image_pub = None
        if self.settings.debug_image:
            self._image_pub = self.create_publisher(Image, DEBUG_IMAGE, DISPLAY_QOS)
            subscribe_camera(self, config_of(CameraInput, p), self._on_image)
        self.create_service(GetScene, GET_SCENE_SERVICE, self._get_scene)
        self.create_service(GetEvents, GET_EVENTS_SERVICE, self._get_events)
        self.create_timer(1.0 / self.settings.scene_rate_hz, self._tick)
        self._publish_scene()  # the restored (or empty) scene, for TRANSIENT_LOCAL subscribers
        self.get_logger().info(
            f"grounding: {self.model.event_count} events restored from {p['journal_path'] or 'no journal'}")

    # --- inputs ------------------------------------------------------------------------------------------------
    def _on_step(self, msg: StageStep) -> None:
        try:
            step = conversions.stage_step_from_msg(msg)
        except ValueError as exc:  # an unknown entity kind
            self.bad_steps += 1
            self.get_logger().warning(f"bad stage step skipped ({self.bad_steps} so far): {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return
        self._last_step_at = time.monotonic()
        rejected = self.model.stats["rejected"]
        self._publish(self.model.step(step))
        if self.model.stats["rejected"] > rejected:
            reasons = {k: v for k, v in self.model.stats.items() if k.startswith("rejected (")}
            self.get_logger().warning(f"invalid candidates rejected; so far: {reasons}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
        if step.frame is not None:
            self._latest_frame = step.frame
            if self._markers_pub.get_subscription_count() > 0:  # boxes move every frame
                self._publish_markers()

    def _on_image(self, msg: Image | CompressedImage) -> None:
        if not (self.settings.debug_image_always or self._image_pub.get_subscription_count() > 0):
            return
        try:
            frame = conversions.image_msg_to_bgr8(msg)
        except ImageError as exc:
            self.bad_images += 1
            self.get_logger().warning(f"debug image: bad frame skipped ({self.bad_images} so far): {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return
        visible = {e.id for e in self._latest_frame.entities} if self._latest_frame else set()
        drawn = draw_debug_image(frame, self.model.scene(), self.model.recent_events(self.settings.recent_events),
                                 visible)
        self._image_pub.publish(conversions.image_msg(drawn, "bgr8", conversions.time_to_ns(msg.header.stamp),
                                                      msg.header.frame_id))

    def _tick(self) -> None:
        """End the stream once it has been idle for stream_idle_s (confirm what is pending), republish the scene."""
        if self._last_step_at is not None and time.monotonic() - self._last_step_at >= self.settings.stream_idle_s:
            self._last_step_at = None
            self._publish(self.model.finish())
        self._publish_scene()

    # --- outputs -----------------------------------------------------------------------------------------------
    def _publish(self, confirmed: list[Event]) -> None:
        for e in confirmed:
            self._events_pub.publish(conversions.event_to_msg(e))
            self.get_logger().info(f"event {e.event_id}: {e.actor_id} {e.action} {e.object_id}"
                                   f"{' ' + e.relation + ' ' + e.target_id if e.relation else ''}")
        if self.model.revision != self._published_revision:
            self._publish_scene()

    def _publish_scene(self) -> None:
        self._published_revision = self.model.revision
        self._scene_pub.publish(conversions.scene_to_msg(self.model.scene()))
        self._publish_markers()

    def _publish_markers(self) -> None:
        visible = {e.id for e in self._latest_frame.entities} if self._latest_frame else None
        self._markers_pub.publish(self.markers.build(
            self.model.scene(), self.model.recent_events(self.settings.recent_events), visible))

    # --- services ----------------------------------------------------------------------------------------------
    def _get_scene(self, _request: GetScene.Request, response: GetScene.Response) -> GetScene.Response:
        response.scene = conversions.scene_to_msg(self.model.scene())
        return response

    def _get_events(self, request: GetEvents.Request, response: GetEvents.Response) -> GetEvents.Response:
        events = self.model.events(request.actor_id, request.object_id, conversions.time_to_ns(request.start),
                                   conversions.time_to_ns(request.end), request.max_events)
        response.events = [conversions.event_to_msg(e) for e in events]
        return response

    def destroy_node(self) -> None:
        super().destroy_node()
        self.model.close()


def main(args: list[str] | None = None) -> int:
    return run_node("grounding_node", GroundingNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
