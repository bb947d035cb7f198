"""Outcome kinds of a reasoning request and the counters behind merge_ros/ReasoningStatus.

A ReasonResult carries its failure kind as the prefix of its error text ("timeout: ...") because the Reason
service has only a string for it; error_kind() reads it back so that the event node, the VLM node and the
offline runner count the same things the same way.
"""
from __future__ import annotations

import threading

from merge_ros.types import ReasoningStatus, ReasonResult

ERROR_TIMEOUT = "timeout"
ERROR_MALFORMED = "malformed"
ERROR_BACKEND = "backend"
ERROR_UNAVAILABLE = "unavailable"
ERROR_BAD_REQUEST = "bad_request"
ERROR_KINDS = (ERROR_TIMEOUT, ERROR_MALFORMED, ERROR_BACKEND, ERROR_UNAVAILABLE, ERROR_BAD_REQUEST)


def failure(kind: str, detail: str = "", raw_text: str = "") -> ReasonResult:
    """A failed result whose error text starts with its kind."""
    return ReasonResult(False, f"{kind}: {detail}" if detail else kind, raw_text)


def error_kind(result: ReasonResult) -> str:
    """The failure kind of a result ("" on success); an error text without a known kind counts as backend."""
    if result.success:
        return ""
    head = result.error.split(":", 1)[0].strip()
    return head if head in ERROR_KINDS else ERROR_BACKEND


class ReasoningCounters:
    """Thread-safe counters of one reasoning path (the nodes answer and publish from different threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status = ReasoningStatus()

    def started(self) -> None:
        with self._lock:
            self._status.requests += 1
            self._status.in_flight += 1

    def finished(self, result: ReasonResult) -> None:
        """Count the outcome of a request counted by started()."""
        kind = error_kind(result)
        with self._lock:
            self._status.in_flight = max(0, self._status.in_flight - 1)
            if kind == ERROR_MALFORMED:
                self._status.malformed += 1
            elif kind == ERROR_TIMEOUT:
                self._status.timeouts += 1
            elif kind:
                self._status.failures += 1

    def dropped(self, n: int = 1) -> None:
        with self._lock:
            self._status.dropped += n

    def snapshot(self, stamp_ns: int = 0) -> ReasoningStatus:
        with self._lock:
            s = self._status
            return ReasoningStatus(stamp_ns, s.requests, s.dropped, s.malformed, s.timeouts, s.failures, s.in_flight)
