"""A backend behind one daemon worker thread, so that callers wait with a deadline and never on a hung model.

The thread is a daemon on purpose: a generate() that never returns must not keep the process from exiting
(concurrent.futures' pool threads are joined at exit). Requests run one at a time, in order: a model on one
device gains nothing from running two at once. A request still queued when its caller gave up is cancelled and
never reaches the model.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from merge_ros.reasoning.backends.base import VlmBackend
from merge_ros.reasoning.status import ERROR_BACKEND, ERROR_TIMEOUT, failure
from merge_ros.types import ReasonRequest, ReasonResult

log = logging.getLogger(__name__)


class BackendWorker:
    def __init__(self, backend: VlmBackend, timeout_s: float = 60.0) -> None:
        self.backend = backend
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[ReasonRequest, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"vlm-{backend.name}", daemon=True)
        self._thread.start()

    def submit(self, request: ReasonRequest) -> Future:
        """A future of the ReasonResult (never of an exception: a crashed backend gives a failed result)."""
        future: Future = Future()
        self._queue.put((request, future))
        return future

    def reason(self, request: ReasonRequest, timeout_s: float | None = None) -> ReasonResult:
        """The result, or a timeout failure when it takes longer than timeout_s (default: the worker's)."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        future = self.submit(request)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()
            return failure(ERROR_TIMEOUT, f"no answer within {timeout_s:.1f} s")

    def close(self) -> None:
        """Stop taking requests (a running one is abandoned) and release the backend's resources."""
        self._queue.put(None)
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            request, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self.backend.reason(request)
            except Exception as e:  # backends report failures as results; this is the last line of defence
                log.exception("%s backend raised", self.backend.name)
                result = failure(ERROR_BACKEND, f"{type(e).__name__}: {e}")
            future.set_result(result)
