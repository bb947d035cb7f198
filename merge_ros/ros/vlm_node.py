"""vlm_node: the `reason` service (merge_ros/srv/Reason) in front of one VLM backend; counters on vlm_status.

A thin adapter around merge_ros.reasoning: the backend (transformers, openai or none) loads once, at configure.
Each request runs in the backend's worker thread under a deadline, so a hung model answers success=false, error
"timeout: ..." instead of blocking the service forever;
malformed answers, timeouts and a crashed backend are answered, logged and counted, never fatal. The service
has its own mutually exclusive callback group: one request at a time reaches the model, while the executor's
other threads keep the rest of the process going (spin it with a MultiThreadedExecutor).

A managed (lifecycle) node, see merge_ros.ros.lifecycle: the backend loads at configure (a load failure fails it
with one line naming the parameter) and is released at cleanup; while not active, the service stays up and
answers every request at once with success=false, error "unavailable: vlm_node is inactive ...".
"""
from __future__ import annotations

import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

from merge_ros.io.images import ImageError
from merge_ros.msg import ReasoningStatus
from merge_ros.params import config_of
from merge_ros.reasoning.backends import BackendLoadError, VlmBackend
from merge_ros.reasoning.parameters import VLM_PARAMETERS, BackendConfig, build_backend
from merge_ros.reasoning.status import ERROR_BAD_REQUEST, ERROR_UNAVAILABLE, ReasoningCounters, failure
from merge_ros.reasoning.worker import BackendWorker
from merge_ros.ros import conversions
from merge_ros.ros.entry import run_node
from merge_ros.ros.lifecycle import ManagedNode
from merge_ros.ros.qos import LOG_THROTTLE_S, STATE_QOS
from merge_ros.srv import Reason
from merge_ros.topics import REASON_SERVICE, VLM_STATUS
from merge_ros.types import ReasonResult


class VlmNode(ManagedNode):
    load_errors = (BackendLoadError,)

    def __init__(self, node_name: str = "vlm_node", backend: VlmBackend | None = None, **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...); backend replaces the one the
        parameters name (tests pass a test double). With autostart (the default) a backend that cannot load
        raises BackendLoadError naming the parameter."""
        super().__init__(node_name, VLM_PARAMETERS, **kwargs)
        self._given_backend = backend
        self.backend: VlmBackend | None = None
        self.deadline_s = 0.0
        self._worker: BackendWorker | None = None
        self._serving = threading.Lock()  # a request in progress holds it: cleanup waits for it
        self.counters = ReasoningCounters()
        self._status_pub = self.create_publisher(ReasoningStatus, VLM_STATUS, STATE_QOS)
        self.create_service(Reason, REASON_SERVICE, self._on_reason, callback_group=MutuallyExclusiveCallbackGroup())
        self._publish_status()
        self.autostart()

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def configure(self) -> None:
        try:
            backend = self._given_backend if self._given_backend is not None else build_backend(self.params)
        except BackendLoadError as exc:
            text = str(exc)  # the line names the parameter to change: 'model' unless the backend named another
            raise BackendLoadError(text if "parameter '" in text else f"parameter 'model': {text}") from None
        with self._serving:
            self.backend = backend
            self.deadline_s = config_of(BackendConfig, self.params).deadline_s
            self._worker = BackendWorker(backend, self.deadline_s)
        self.get_logger().info(f"vlm: backend {backend.name} ready, deadline {self.deadline_s:.1f} s per request")

    def release(self) -> None:
        with self._serving:
            if self._worker is not None:
                self._worker.close()
            self._worker = self.backend = None

    # --- the service -------------------------------------------------------------------------------------------
    def _on_reason(self, request: Reason.Request, _response: Reason.Response) -> Reason.Response:
        self.counters.started()
        self._publish_status()
        with self._serving:
            result = self._answer(request)
        self.counters.finished(result)
        self._publish_status()
        actor = request.trigger.actor_id
        if result.success:
            self.get_logger().debug(f"{actor}: {len(result.events)} events")
        else:
            self.get_logger().warning(f"{actor}: {result.error} (raw {result.raw_text[:120]!r})",
                                      throttle_duration_sec=LOG_THROTTLE_S)
        return conversions.reason_result_to_msg(result)

    def _answer(self, request: Reason.Request) -> ReasonResult:
        if not self.active:
            state, steps = ("inactive", "activate") if self.configured else ("unconfigured", "configure, then activate")
            return failure(ERROR_UNAVAILABLE, f"{self.get_name()} is {state}, not answering (to resume: ros2 "
                                              f"lifecycle set {self.get_fully_qualified_name()} {steps})")
        try:
            core = conversions.reason_request_from_msg(request)
        except (ImageError, ValueError) as exc:
            return failure(ERROR_BAD_REQUEST, str(exc))
        return self._worker.reason(core)

    def _publish_status(self) -> None:
        self._status_pub.publish(conversions.status_to_msg(self.counters.snapshot(self.get_clock().now().nanoseconds)))


def main(args: list[str] | None = None) -> int:
    return run_node("vlm_node", VlmNode, args, multithreaded=True, load_errors=(BackendLoadError,))


if __name__ == "__main__":
    raise SystemExit(main())
