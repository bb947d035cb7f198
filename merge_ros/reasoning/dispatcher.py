"""Bounded, non-blocking dispatch of reasoning requests: the stream never waits for the VLM.

submit() returns at once. At most max_in_flight requests are outstanding; the rest wait in a queue of at most
max_queued, one per key (the actor): a newer request for an actor replaces its queued, stale one (coalesced), and
a full queue drops its oldest request. Both count as dropped. An outstanding request older than timeout_s is
given up (counted as a timeout) so that a lost answer cannot hold a slot forever; expire() does that and is
called by submit() and, for a quiet stream, by the owner's timer.

`call` starts a request and returns either a ReasonResult (synchronous: the offline runner, which then gives
the same results in the same order every run) or a future with add_done_callback/result/cancel/cancelled:
an rclpy Future of the Reason service (event_node, with decode=conversions.reason_result_from_msg) or a
concurrent.futures.Future of a BackendWorker (offline, with a worker thread).
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from merge_ros.reasoning.status import ERROR_BACKEND, ERROR_TIMEOUT, ReasoningCounters, failure
from merge_ros.types import ReasoningStatus, ReasonRequest, ReasonResult

log = logging.getLogger(__name__)

ResultCallback = Callable[[ReasonRequest, ReasonResult], None]


@dataclass
class _Outstanding:
    request: ReasonRequest
    started: float
    future: Any = None


class ReasoningDispatcher:
    def __init__(self, call: Callable[[ReasonRequest], Any], on_result: ResultCallback, *, max_in_flight: int = 2,
                 max_queued: int = 4, timeout_s: float | None = None,
                 decode: Callable[[Any], ReasonResult] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_in_flight < 1 or max_queued < 0:
            raise ValueError(f"need max_in_flight >= 1 and max_queued >= 0, got {max_in_flight}, {max_queued}")
        self._call = call
        self._on_result = on_result
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.timeout_s = timeout_s
        self._decode = decode or (lambda value: value)
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: OrderedDict[str, ReasonRequest] = OrderedDict()
        self._outstanding: dict[int, _Outstanding] = {}
        self._tickets = itertools.count()
        self.counters = ReasoningCounters()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._outstanding)

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def status(self, stamp_ns: int = 0) -> ReasoningStatus:
        status = self.counters.snapshot(stamp_ns)
        status.in_flight = self.in_flight
        return status

    def submit(self, request: ReasonRequest, key: str | None = None) -> None:
        """Queue request (key: the actor by default) and start what the in-flight bound allows; never blocks."""
        self.expire()
        key = request.trigger.actor_id if key is None else key
        with self._lock:
            if self._queue.pop(key, None) is not None:
                self.counters.dropped()
            self._queue[key] = request
            free = max(0, self.max_in_flight - len(self._outstanding))
            while len(self._queue) - free > self.max_queued:
                dropped_key, _ = self._queue.popitem(last=False)
                log.debug("dropped the queued request for %s", dropped_key)
                self.counters.dropped()
        self._pump()

    def expire(self) -> int:
        """Give up outstanding requests older than timeout_s (counted as timeouts); return how many."""
        if self.timeout_s is None:
            return 0
        now = self._clock()
        with self._lock:
            expired = [(t, o) for t, o in self._outstanding.items() if now - o.started > self.timeout_s]
            for ticket, _ in expired:
                del self._outstanding[ticket]
        for _, outstanding in expired:
            if outstanding.future is not None:
                outstanding.future.cancel()
            self._report(outstanding.request, failure(ERROR_TIMEOUT, f"no answer within {self.timeout_s:.1f} s"))
        if expired:
            self._pump()
        return len(expired)

    def close(self) -> None:
        """Forget queued requests and cancel outstanding ones (no callbacks follow)."""
        with self._lock:
            self._queue.clear()
            outstanding = list(self._outstanding.values())
            self._outstanding.clear()
        for o in outstanding:
            if o.future is not None:
                o.future.cancel()

    def _pump(self) -> None:
        while True:
            with self._lock:
                if len(self._outstanding) >= self.max_in_flight or not self._queue:
                    return
                _, request = self._queue.popitem(last=False)
                ticket = next(self._tickets)
                self._outstanding[ticket] = _Outstanding(request, self._clock())
                self.counters.started()
            try:
                outcome = self._call(request)
            except Exception as e:  # a failing transport (no service, closed client) is a counted failure
                log.warning("reasoning call failed: %s", e)
                outcome = failure(ERROR_BACKEND, f"{type(e).__name__}: {e}")
            if isinstance(outcome, ReasonResult):
                self._finish(ticket, outcome)
                continue
            with self._lock:
                if ticket in self._outstanding:
                    self._outstanding[ticket].future = outcome
            outcome.add_done_callback(lambda future, t=ticket: self._done(t, future))

    def _done(self, ticket: int, future: Any) -> None:
        if future.cancelled():
            return
        try:
            result = self._decode(future.result())
            if not isinstance(result, ReasonResult):
                raise TypeError(f"decoded {type(result).__name__}, not a ReasonResult")
        except Exception as e:
            result = failure(ERROR_BACKEND, f"{type(e).__name__}: {e}")
        self._finish(ticket, result)
        self._pump()

    def _finish(self, ticket: int, result: ReasonResult) -> None:
        with self._lock:
            outstanding = self._outstanding.pop(ticket, None)
        if outstanding is not None:  # None: already given up by expire()
            self._report(outstanding.request, result)

    def _report(self, request: ReasonRequest, result: ReasonResult) -> None:
        self.counters.finished(result)
        try:
            self._on_result(request, result)
        except Exception:
            log.exception("reasoning result callback failed")
