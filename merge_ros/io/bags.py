"""rosbag2 reading and writing for import-ground, replay and record (rosbags, no rclpy).

One layer over rosbags so that the three commands share the same answers to the questions a bag raises:
which paths are bags (a bag directory in mcap or sqlite3 storage as rosbags or the real rosbag2 writes it,
metadata.yaml versions 4 to 9, or a bare .mcap / .db3 file), which QoS a replayer should offer for a topic given
the profiles recorded in the metadata (rosbag2 writes them as a YAML string of a list up to Humble and as a
YAML list from Jazzy on; rosbags parses both), where a message's header stamp is without deserialising it, and
how to write a bag from callbacks on any thread (QueuedWriter).

A bag directory whose metadata.yaml describes a topic's QoS differently from its storage file (an edited
metadata.yaml) makes rosbags' directory reader silently yield nothing for that topic; BagReader notices the
mismatch and reads those messages from the storage files instead, with the metadata's QoS.

A recorder killed mid-write (power cut, SIGKILL, a full disk) leaves an MCAP file without its end (summary,
footer, end magic), which rosbags refuses outright ("File end magic is invalid"), and a bag directory without
metadata.yaml (written at close). BagReader reads such a file up to its last complete record, as rosbags reads an
MCAP file without a summary (by a scan), and warns where it ends; a directory without metadata.yaml is read from
its one storage file.
"""
from __future__ import annotations

import contextlib
import heapq
import io
import logging
import queue
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.rosbag2.reader import DirectoryReader
from rosbags.rosbag2.storage_mcap import McapReader
from rosbags.typesys.base import Nodetype

from merge_ros.io.rostypes import typestore

log = logging.getLogger(__name__)

STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
BAG_VERSION = 9  # what rosbag2 Jazzy writes; rosbags writes 8 or 9
DEFAULT_DEPTH = 10
# A transient-local topic replays with a history deep enough for a late subscriber to get every message of it,
# up to this many (registries and static data are small; a huge latched topic is a recording mistake).
MAX_LATCHED_DEPTH = 1000
_DEFAULT_TIME = QosTime(0, 0)  # rmw's "unspecified" deadline, lifespan and lease duration


class BagError(ValueError):
    """The path is not a readable bag, or a bag cannot be written there; the text says why."""


@dataclass(frozen=True)
class TopicQos:
    """The QoS choices that matter to a replayer or recorder, in plain terms (rmw enums stay in rosbags/rclpy)."""

    reliable: bool = True
    transient_local: bool = False
    depth: int = DEFAULT_DEPTH
    keep_all: bool = False  # history KEEP_ALL (depth unused): with reliable, DDS flow control instead of loss


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int
    offered: tuple[Qos, ...]  # the profiles the recorded publishers offered, as the metadata lists them


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    timestamp_ns: int  # bag (receive) time
    data: bytes  # serialised CDR, as stored


def adapt_offered_qos(offered: Sequence[Qos], count: int = 0) -> TopicQos | None:
    """The QoS to publish a recorded topic with, or None when the bag recorded no usable profile.

    Follows rosbag2's player: reliable only if every recorded publisher was reliable, transient-local only if
    every one was, so that subscribers that matched the original publishers match the replay too. History is
    not part of a DDS offer (recorded as unknown, depth 0), so depth is the default, raised for transient-local
    topics to hold all `count` messages.
    """
    known = [q for q in offered if q.reliability in (QosReliability.RELIABLE, QosReliability.BEST_EFFORT)]
    if not known:
        return None
    reliable = all(q.reliability == QosReliability.RELIABLE for q in known)
    transient_local = all(q.durability == QosDurability.TRANSIENT_LOCAL for q in known)
    depth = max([DEFAULT_DEPTH] + [q.depth for q in known if q.history == QosHistory.KEEP_LAST])
    if transient_local:
        depth = max(depth, min(count, MAX_LATCHED_DEPTH))
    return TopicQos(reliable=reliable, transient_local=transient_local, depth=depth)


def offered_profile(qos: TopicQos) -> Qos:
    """A rosbags Qos to record as a topic's offered profile when writing a bag."""
    return Qos(
        history=QosHistory.KEEP_ALL if qos.keep_all else QosHistory.KEEP_LAST, depth=0 if qos.keep_all else qos.depth,
        reliability=QosReliability.RELIABLE if qos.reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if qos.transient_local else QosDurability.VOLATILE,
        deadline=_DEFAULT_TIME, lifespan=_DEFAULT_TIME, liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_DEFAULT_TIME, avoid_ros_namespace_conventions=False,
    )


def create_writer(path: Path | str, storage: str = "mcap") -> Writer:
    """An open rosbags Writer for a new bag directory (close it to get a valid bag); BagError if impossible."""
    if storage not in STORAGES:
        raise BagError(f"unknown storage {storage!r} (choose from {', '.join(STORAGES)})")
    path = Path(path)
    if path.exists():
        raise BagError(f"{path}: exists already; a bag is written to a new directory")
    if not path.parent.is_dir():
        raise BagError(f"{path.parent}: no such directory to create the bag in")
    writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
    try:
        writer.open()
    except (WriterError, OSError) as exc:
        raise BagError(f"{path}: cannot create bag: {exc}") from exc
    return writer


class QueuedWriter:
    """A new bag written by a thread of its own, fed through a queue; construction raises BagError like
    create_writer.

    rosbags' sqlite3 storage may only be used from the thread that opened it, while an executor runs
    subscription callbacks on any of its threads; and disk writes then never hold up a callback. Messages wait
    in an unbounded queue when the disk is slower than the input. `error` is set (and the bag closed) if
    writing fails; `close()` writes what is queued, closes the bag and waits for the thread.
    """

    def __init__(self, path: Path | str, storage: str = "mcap"):
        self.path = Path(path)
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(storage,), name=f"bag writer {self.path.name}",
                                        daemon=True)
        self._thread.start()
        self._ready.wait()
        if isinstance(self.error, BagError):
            raise self.error

    def add_connection(self, topic: str, msgtype: str, offered: Sequence[Qos] = ()) -> None:
        """Declare a topic (its type must be known to merge_ros.io.rostypes.typestore()) before writing to it."""
        self._queue.put(("add", topic, msgtype, list(offered)))

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        self._queue.put(("write", topic, timestamp_ns, data))

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued and close the bag (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(("close",))
            self._thread.join(timeout)

    def _run(self, storage: str) -> None:
        try:
            writer = create_writer(self.path, storage)
        except BagError as exc:
            self.error = exc
            return
        finally:
            self._ready.set()
        connections: dict[str, Connection] = {}
        try:
            while (item := self._queue.get())[0] != "close":
                if item[0] == "add":
                    _, topic, msgtype, offered = item
                    connections[topic] = writer.add_connection(topic, msgtype, typestore=typestore(),
                                                               offered_qos_profiles=offered)
                else:
                    _, topic, timestamp_ns, data = item
                    writer.write(connections[topic], timestamp_ns, data)
        except Exception as exc:  # any failure ends the bag, cleanly, and is reported
            self.error = exc
            log.exception("%s: writing failed; the bag is closed with what was written", self.path)
        finally:
            writer.close()


def header_stamp_ns(msgtype: str, data: bytes) -> int | None:
    """The header stamp of a serialised message whose first field is a std_msgs/Header, else None.

    Read straight from the CDR bytes (4-byte encapsulation, then int32 sec and uint32 nanosec), so a recorder
    can stamp images without deserialising them.
    """
    if not has_header(msgtype) or len(data) < 12:
        return None
    order = "<" if data[1] == 1 else ">"  # encapsulation kind 0x0001 is CDR little endian
    sec, nanosec = struct.unpack_from(order + "iI", data, 4)
    return sec * 1_000_000_000 + nanosec


def has_header(msgtype: str) -> bool:
    store = typestore()
    if msgtype not in store.fielddefs:
        return False
    fields = store.fielddefs[msgtype][1]
    return bool(fields) and fields[0][0] == "header" and fields[0][1] == (Nodetype.NAME, "std_msgs/msg/Header")


MCAP_MAGIC = b"\x89MCAP0\r\n"
_OP_HEADER, _OP_FOOTER, _OP_DATA_END = 0x01, 0x02, 0x0F
_MCAP_OPS = frozenset(range(0x01, 0x11))  # the record opcodes the MCAP format defines
# What a cut-short MCAP file is given in place of its lost end, so that rosbags reads it as a file without a
# summary: an empty DataEnd record, a Footer pointing at no summary, the end magic (13 + 29 + 8 bytes).
_MCAP_END = (bytes([_OP_DATA_END]) + struct.pack("<QI", 4, 0) + bytes([_OP_FOOTER]) + struct.pack("<QQQI", 20, 0, 0, 0)
             + MCAP_MAGIC)


# What was already said about a damaged recording, by (path, size): a replay opens its bag more than once (its
# topics, then its messages), and the same warning each time would read as a second problem.
_warned: set[tuple[str, int]] = set()
_warned_lock = threading.Lock()


def _warn_once(path: Path, message: str, *args) -> None:
    key = (str(path.resolve()), path.stat().st_size)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message, path, *args)


@dataclass(frozen=True)
class McapDamage:
    """Where an MCAP file stops making sense: its records are whole up to `readable` bytes of `size`."""

    readable: int
    size: int
    data_complete: bool  # the data section ends properly (DataEnd record): only the index after it is lost


def mcap_damage(path: Path) -> McapDamage | None:
    """None when the MCAP file ends as the format requires (footer and end magic), or is no MCAP file at all
    (rosbags says so); else where its last complete record ends, found by walking the records' lengths."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if f.read(8) != MCAP_MAGIC:
            return None
        if size >= 8 + 37:
            f.seek(-37, io.SEEK_END)
            end = f.read(37)
            if end[:9] == bytes([_OP_FOOTER]) + struct.pack("<Q", 20) and end[-8:] == MCAP_MAGIC:
                return None
        offset = 8
        while True:
            f.seek(offset)
            head = f.read(9)
            if len(head) < 9:
                return McapDamage(offset, size, False)
            op, length = head[0], struct.unpack("<Q", head[1:])[0]
            if op == _OP_DATA_END:
                return McapDamage(offset, size, True)
            # a zeroed or garbled tail (a crash on a filesystem that had reserved the space) ends it as well
            if op not in _MCAP_OPS or op == _OP_FOOTER or (op == _OP_HEADER) != (offset == 8) \
                    or offset + 9 + length > size:
                return McapDamage(offset, size, False)
            offset += 9 + length


class _SplicedFile(io.RawIOBase):
    """A file's first `keep` bytes followed by `tail`, as one read-only seekable file (nothing is copied)."""

    def __init__(self, path: Path, keep: int, tail: bytes):
        super().__init__()
        self._file = path.open("rb")
        self._keep, self._tail = keep, tail
        self._size = keep + len(tail)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos < self._keep:
            self._file.seek(self._pos)
            n = self._file.readinto(view[:min(len(view), self._keep - self._pos)]) or 0
        else:
            chunk = self._tail[self._pos - self._keep:self._pos - self._keep + len(view)]
            view[:len(chunk)] = chunk
            n = len(chunk)
        self._pos += n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


class _SalvagingMcapReader(McapReader):
    """rosbags' MCAP reader, which also reads a file cut short (mcap_damage) up to its last complete record.

    Such a file has no index, so its messages come by a scan, in the order they were written (a recorder writes
    them as they arrive, which is their bag-time order up to the jitter between topics).
    """

    damage: McapDamage | None = None

    def open(self) -> None:
        self.damage = mcap_damage(Path(self.path))
        if self.damage is None:
            super().open()
            return
        if self.damage.readable <= 8:
            raise ReaderError("the file was cut short before its first complete record: nothing to read")
        self.bio = io.BufferedReader(_SplicedFile(Path(self.path), self.damage.readable, _MCAP_END), 1 << 20)
        try:
            self._open()
        except BaseException:
            with contextlib.suppress(Exception):
                self.close()
            raise
        self._warn()

    def _warn(self) -> None:
        d, meta = self.damage, self.metadata
        count = meta.message_count
        span = (meta.end_time - 1 - meta.start_time) / 1e9 if count else 0.0
        if d.data_complete:
            _warn_once(Path(self.path), "%s: its index is missing (the recorder stopped after the data): reading its "
                       "%d messages (%.2f s) by a scan", count, span)
            return
        where = f", up to bag time {(meta.end_time - 1) / 1e9:.3f}" if count else ""
        _warn_once(Path(self.path), "%s: the file is cut short (its recorder stopped mid-write?): its records end at "
                   "byte %d of %d; replaying what it holds, %d messages over %.2f s%s; anything recorded after that "
                   "is lost", d.readable, d.size, count, span, where)

    def messages(self, connections, start=None, stop=None):
        if self.damage is None:
            return super().messages(connections, start, stop)
        return self.messages_scan(connections, start, stop)


class _DirectoryReader(DirectoryReader):
    STORAGE_PLUGINS = {**DirectoryReader.STORAGE_PLUGINS, "mcap": _SalvagingMcapReader}


class _Reader(Reader):
    """rosbags' Reader with the salvaging MCAP reader for bare files and for the files of a bag directory."""

    STORAGE_PLUGINS = {**Reader.STORAGE_PLUGINS, "dir": _DirectoryReader, ".mcap": _SalvagingMcapReader}


def storage_target(path: Path) -> Path:
    """What to open for path: itself, or, for a directory without metadata.yaml (its recorder was killed before
    writing it at close), its one storage file; BagError when such a directory has none or several."""
    if not path.is_dir() or (path / "metadata.yaml").exists():
        return path
    files = sorted(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
    if len(files) != 1:
        found = ", ".join(p.name for p in files) or "no .mcap or .db3 file"
        raise BagError(f"{path}: not a readable rosbag2 bag: no metadata.yaml, and {found} (replay one storage file "
                       "at a time)")
    _warn_once(path, "%s: no metadata.yaml (its recorder did not finish?): reading its storage file %s",
               files[0].name)
    return files[0]


class BagReader:
    """An open bag (directory, .mcap or .db3 file) with its topics and a time-ordered message stream.

    Use as a context manager; every failure to open raises BagError naming the path and the reason. A recording
    whose recorder was killed is read as far as it is whole (module docstring).
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag (expected a bag directory, .mcap or .db3 file)")
        try:
            self._reader = _Reader(storage_target(self.path))
            self._reader.open()
        except (ReaderError, FileNotFoundError, OSError, ValueError, KeyError) as exc:
            raise BagError(f"{self.path}: not a readable rosbag2 bag: {exc}") from exc
        try:
            self._orphans = self._unmatched_connections()
        except BagError:
            self.close()
            raise

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()

    @property
    def start_ns(self) -> int:
        return self._reader.start_time

    @property
    def message_count(self) -> int:
        return self._reader.message_count

    def topics(self) -> list[BagTopic]:
        """Every topic in the bag (one entry per topic and type), in the order the bag lists them."""
        out: dict[tuple[str, str], BagTopic] = {}
        for conn in self._reader.connections:
            key = (conn.topic, conn.msgtype)
            offered = tuple(getattr(conn.ext, "offered_qos_profiles", ()))
            if key in out:
                prev = out[key]
                out[key] = BagTopic(conn.topic, conn.msgtype, prev.count + conn.msgcount, prev.offered + offered)
            else:
                out[key] = BagTopic(conn.topic, conn.msgtype, conn.msgcount, offered)
        return list(out.values())

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """The messages of the named topics (all when None), in bag-time order."""
        wanted = None if topics is None else set(topics)
        conns = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return iter(())
        # rosbags reads every connection when given none, so an empty selection must not reach it.
        regular = [c for c in conns if c.id not in self._orphans]
        streams = [self._stream(self._reader.messages(regular))] if regular else []
        if orphans := [c for c in conns if c.id in self._orphans]:
            streams.append(self._orphan_stream(orphans))
        return heapq.merge(*streams, key=lambda m: m.timestamp_ns)

    @staticmethod
    def _stream(rows: Iterable[tuple[Connection, int, bytes]]) -> Iterator[BagMessage]:
        for conn, timestamp, data in rows:
            yield BagMessage(conn.topic, conn.msgtype, timestamp, bytes(data))

    def _storages(self) -> list:
        # rosbags' directory reader keeps one reader per storage file; a bare file has none.
        return list(getattr(self._reader.storage, "storages", []))

    def _unmatched_connections(self) -> set[int]:
        """IDs of metadata connections no storage connection equals (rosbags would yield none of their messages)."""
        stored = [s for storage in self._storages() for s in storage.connections]
        if not stored:
            return set()
        orphans = [c for c in self._reader.connections
                   if c.msgcount and not any(s.topic == c.topic and s.msgtype == c.msgtype and s.ext == c.ext
                                             for s in stored)]
        names = ", ".join(sorted(c.topic for c in orphans))
        if orphans and self._reader.compression_mode == "message":
            raise BagError(f"{self.path}: metadata.yaml does not match the storage for {names} and the messages "
                           "are compressed one by one")
        if orphans:
            log.warning("%s: metadata.yaml describes %s differently from the storage file; reading from the storage "
                        "with the metadata's QoS", self.path, names)
        return {c.id for c in orphans}

    def _orphan_stream(self, conns: list[Connection]) -> Iterator[BagMessage]:
        by_key = {(c.topic, c.msgtype): c for c in conns}
        for storage in self._storages():
            picked = [s for s in storage.connections if (s.topic, s.msgtype) in by_key]
            if picked:
                for stored, timestamp, data in storage.messages(picked):
                    conn = by_key[(stored.topic, stored.msgtype)]
                    yield BagMessage(conn.topic, conn.msgtype, timestamp, bytes(data))
