"""vlm_node: the `reason` service (merge_ros/srv/Reason) in front of one VLM backend; counters on vlm_status.

A thin adapter around merge_ros.reasoning: the backend (transformers, openai or none) loads once at start, and
a load failure is one clear error that stops the node. Each request runs in the backend's worker thread under a
deadline, so a hung model answers success=false, error "timeout: ..." instead of blocking the service forever;
malformed answers, timeouts and a crashed backend are answered, logged and counted, never fatal. The service
has its own mutually exclusive callback group: one request at a time reaches the model, while the executor's
other threads keep the rest of the process going (spin it with a MultiThreadedExecutor).
"""
from __future__ import annotations

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from merge_ros import conversions as cv
from merge_ros.io.images import ImageError
from merge_ros.msg import ReasoningStatus
from merge_ros.nodes.parameters import Param, declare_all
from merge_ros.reasoning.backends import BACKENDS, BackendLoadError, VlmBackend, make_backend
from merge_ros.reasoning.backends.openai_backend import JSON_MODES
from merge_ros.reasoning.backends.transformers_backend import DTYPES
from merge_ros.reasoning.status import ERROR_BAD_REQUEST, ReasoningCounters, failure
from merge_ros.reasoning.worker import BackendWorker
from merge_ros.srv import Reason

# Counters are state: a late subscriber gets the latest at once.
STATUS_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)
LOG_THROTTLE_S = 5.0

PARAMETERS: dict[str, Param] = {
    "backend": Param("none", f"VLM backend: {', '.join(BACKENDS)} (none: perception's candidates, no model)"),
    "model": Param("", "transformers: model id or local path (AutoModelForImageTextToText, e.g. "
                       "Qwen/Qwen2.5-VL-3B-Instruct); openai: served model name ('' = the first the server lists)"),
    "device": Param("cpu", "transformers: torch device (cpu, cuda, cuda:0, ...)"),
    "dtype": Param("auto", f"transformers: weight dtype, one of {', '.join(DTYPES)}"),
    "max_new_tokens": Param(256, "most tokens the model may generate per answer", 1, 32768),
    "base_url": Param("http://127.0.0.1:8000/v1", "openai: base URL of the chat-completions server (vLLM, Ollama "
                                                  "at http://127.0.0.1:11434/v1, llama.cpp server, ...)"),
    "api_key_env": Param("OPENAI_API_KEY", "openai: environment variable holding the API key ('' or unset: none)"),
    "json_mode": Param("schema", f"openai: answer format constraint, one of {', '.join(JSON_MODES)} (schema: JSON "
                                 "schema with the request's IDs; falls back to none if the server refuses it)"),
    "timeout_s": Param(60.0, "seconds one attempt may take (HTTP timeout; the request's deadline is "
                             "(retries + 1) attempts plus backoff)", 0.1, 3600.0),
    "retries": Param(1, "retries after a timeout or a transient server error (not after a malformed answer: "
                        "decoding is greedy)", 0, 10),
    "backoff_s": Param(0.5, "pause before the first retry; doubles with each further retry", 0.0, 60.0),
}


class VlmNode(Node):
    def __init__(self, node_name: str = "vlm_node", backend: VlmBackend | None = None, **kwargs):
        """kwargs go to rclpy Node (context, parameter_overrides, namespace, ...); backend replaces the one the
        parameters name (tests pass a test double). Raises BackendLoadError if the backend cannot load."""
        super().__init__(node_name, **kwargs)
        p = declare_all(self, PARAMETERS)
        self.params = p
        if backend is None:
            backend = make_backend(
                p["backend"], model=p["model"], device=p["device"], dtype=p["dtype"],
                max_new_tokens=p["max_new_tokens"], base_url=p["base_url"], api_key_env=p["api_key_env"],
                timeout_s=p["timeout_s"], retries=p["retries"], backoff_s=p["backoff_s"], json_mode=p["json_mode"])
        self.backend = backend
        self.deadline_s = p["timeout_s"] * (p["retries"] + 1) + p["backoff_s"] * (2 ** p["retries"] - 1)
        self._worker = BackendWorker(backend, self.deadline_s)
        self.counters = ReasoningCounters()
        self._status_pub = self.create_publisher(ReasoningStatus, "vlm_status", STATUS_QOS)
        self.create_service(Reason, "reason", self._on_reason, callback_group=MutuallyExclusiveCallbackGroup())
        self._publish_status()
        self.get_logger().info(f"vlm: backend {backend.name} ready, deadline {self.deadline_s:.1f} s per request")

    def _on_reason(self, request: Reason.Request, _response: Reason.Response) -> Reason.Response:
        self.counters.started()
        self._publish_status()
        try:
            core = cv.reason_request_from_msg(request)
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
        return cv.reason_result_to_msg(result)

    def _publish_status(self) -> None:
        self._status_pub.publish(cv.status_to_msg(self.counters.snapshot(self.get_clock().now().nanoseconds)))

    def destroy_node(self) -> None:
        self._worker.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node = None
    try:
        node = VlmNode()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except BackendLoadError as exc:
        rclpy.logging.get_logger("vlm_node").fatal(str(exc))
        return 1
    except (ValueError, InvalidParameterValueException) as exc:
        rclpy.logging.get_logger("vlm_node").fatal(f"bad parameter: {exc}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
