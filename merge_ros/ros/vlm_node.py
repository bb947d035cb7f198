"""vlm_node: the `reason` service (merge_ros/srv/Reason) in front of one VLM backend; counters on vlm_status.

A thin adapter around merge_ros.reasoning: the backend (transformers, openai or none) loads once at start, and
a load failure is one clear error that stops the node. Each request runs in the backend's worker thread under a
deadline, so a hung model answers success=false, error "timeout: ..." instead of blocking the service forever;
malformed answers, timeouts and a crashed backend are answered, logged and counted, never fatal. The service
has its own mutually exclusive callback group: one request at a time reaches the model, while the executor's
other threads keep the rest of the process going (spin it with a MultiThreadedExecutor).
"""
from __future__ import annotations

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from merge_ros.io.images import ImageError
from merge_ros.msg import ReasoningStatus
from merge_ros.params import config_of
from merge_ros.reasoning.backends import BackendLoadError, VlmBackend
from merge_ros.reasoning.parameters import VLM_PARAMETERS, BackendConfig, build_backend
from merge_ros.reasoning.status import ERROR_BAD_REQUEST, ReasoningCounters, failure
from merge_ros.reasoning.worker import BackendWorker
from merge_ros.ros import conversions
from merge_ros.ros.entry import run_node
from merge_ros.ros.parameters import declare_all
from merge_ros.ros.qos import LOG_THROTTLE_S, STATE_QOS
from merge_ros.srv import Reason
from merge_ros.topics import REASON_SERVICE, VLM_STATUS


class VlmNode(Node):
    def __init__(self, node_name: str = "vlm_node", backend: VlmBackend | None = None, **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...); backend replaces the one the
        parameters name (tests pass a test double). Raises BackendLoadError if the backend cannot load."""
        super().__init__(node_name, **kwargs)
        p = declare_all(self, VLM_PARAMETERS)
        self.params = p
        self.backend = backend if backend is not None else build_backend(p)
        self.deadline_s = config_of(BackendConfig, p).deadline_s
        self._worker = BackendWorker(self.backend, self.deadline_s)
        self.counters = ReasoningCounters()
        self._status_pub = self.create_publisher(ReasoningStatus, VLM_STATUS, STATE_QOS)
        self.create_service(Reason, REASON_SERVICE, self._on_reason, callback_group=MutuallyExclusiveCallbackGroup())
        self._publish_status()
        self.get_logger().info(f"vlm: backend {self.backend.name} ready, deadline {self.deadline_s:.1f} s per request")

    def _on_reason(self, request: Reason.Request, _response: Reason.Response) -> Reason.Response:
        self.counters.started()
        self._publish_status()
        try:
            core = conversions.reason_request_from_msg(request)
        except (ImageError, ValueError) as exc:
            result = failure(ERROR_BAD_REQUEST, str(exc))
        else:
            result = self._worker.reason(core)
        self.counters.finished(result)
        self._publish_status()
        actor = request.trigger.actor_id
        if result.success:
            self.get_logger().debug(f"{actor}: {len(result.events)} events")
        else:
            self.get_logger().warning(f"{actor}: {result.error} (raw {result.raw_text[:120]!r})",
                                      throttle_duration_sec=LOG_THROTTLE_S)
        return conversions.reason_result_to_msg(result)

    def _publish_status(self) -> None:
        self._status_pub.publish(conversions.status_to_msg(self.counters.snapshot(self.get_clock().now().nanoseconds)))

    def destroy_node(self) -> None:
        self._worker.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node("vlm_node", VlmNode, args, multithreaded=True, fatal=(BackendLoadError,))


if __name__ == "__main__":
    raise SystemExit(main())
