"""What every VLM backend shares: the interface, its errors, and answer parsing with retries and backoff."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from merge_ros.reasoning.parse import parse_answer
from merge_ros.reasoning.status import ERROR_BACKEND, ERROR_MALFORMED, failure
from merge_ros.types import ReasonRequest, ReasonResult

log = logging.getLogger(__name__)


class VlmBackend(Protocol):
    """A VLM behind one call: a guided request in, validated candidate events (or why there are none) out."""

    name: str

    def reason(self, request: ReasonRequest) -> ReasonResult:
        ...


class BackendLoadError(RuntimeError):
    """The backend cannot start (bad model path, unknown name, missing parameter); the text says why."""


class TransientError(RuntimeError):
    """A failure worth retrying after a pause (server error, refused connection, timeout)."""

    def __init__(self, message: str, kind: str = ERROR_BACKEND) -> None:
        super().__init__(message)
        self.kind = kind


class BackendFailure(RuntimeError):
    """A failure that a retry would not fix (HTTP 401 or 404, a reply in the wrong protocol)."""


class TextBackend:
    """A backend whose model answers in text: retries transient failures with exponential backoff, then parses.

    A malformed answer is not retried: decoding is greedy, so the same request would give the same text.
    Any other exception is a crashed backend, reported as a failed result and never raised.
    """

    name = "text"

    def __init__(self, retries: int = 1, backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        self.retries = max(0, int(retries))
        self.backoff_s = max(0.0, float(backoff_s))
        self._sleep = sleep

    def generate(self, request: ReasonRequest) -> str:
        """The model's raw answer text to request."""
        raise NotImplementedError

    def reason(self, request: ReasonRequest) -> ReasonResult:
        last: TransientError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                text = self.generate(request)
            except TransientError as e:
                log.warning("%s: attempt %d of %d failed: %s", self.name, attempt + 1, self.retries + 1, e)
                last = e
                continue
            except BackendFailure as e:
                log.error("%s backend: %s", self.name, e)
                return failure(ERROR_BACKEND, str(e))
            except Exception as e:  # a crashed backend must not take the caller down
                log.exception("%s backend failed", self.name)
                return failure(ERROR_BACKEND, f"{type(e).__name__}: {e}")
            return self.validate(text, request)
        assert last is not None
        return failure(last.kind, f"{last} (after {self.retries + 1} attempts)")

    @staticmethod
    def validate(text: str, request: ReasonRequest) -> ReasonResult:
        events, problems = parse_answer(text, request.actor_ids, request.object_ids, request.trigger)
        if problems:
            log.info("answer to %s: %s", request.trigger.actor_id, "; ".join(problems))
        if not events and problems:
            return failure(ERROR_MALFORMED, "; ".join(problems), raw_text=text)
        return ReasonResult(True, "", text, events)
