"""The grounding node's journal: every confirmed event, appended to a JSON-lines file and flushed.

It uses the event log format of merge_ros.io.event_log, so a journal is also an ordinary event log for the
evaluator and other tools. An event is written (and flushed to the OS, optionally fsynced to the disk) before it
is published, so a killed process never published an event that its journal lacks; on restart the world model
replays the journal and carries on with the same state, history and event numbering.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from merge_ros.io.event_log import append_event, read_event_log, read_events
from merge_ros.types import Event


class JournalError(RuntimeError):
    """The journal cannot be used (unreadable, or a malformed line before its end): never silently overwritten."""


class Journal:
    """An append-only event file opened for restore and append.

    A torn last line (an append interrupted by a kill) is cut off on open so the next append starts on a fresh
    line; a complete last record that only lacks its newline is kept and completed.
    """

    def __init__(self, path: Path | str, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._restored = self._open_existing() if self.path.exists() else []
            self._file = self.path.open("a", encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc

    def _open_existing(self) -> list[Event]:
        log = read_event_log(self.path)
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                if log.torn_lines:
                    f.truncate(data.rfind(b"\n") + 1)
                else:
                    f.seek(0, os.SEEK_END)
                    f.write(b"\n")
        return log.events

    @property
    def restored(self) -> list[Event]:
        """The events the file held when it was opened, in the order they were confirmed."""
        return list(self._restored)

    def append(self, e: Event) -> None:
        append_event(self._file, e)
        if self.fsync:
            os.fsync(self._file.fileno())

    def read_all(self) -> list[Event]:
        """Everything on disk now (restored and appended): the full history, beyond any in-memory limit."""
        return read_events(self.path)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
