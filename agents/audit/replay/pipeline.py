"""``read_events`` over two processes: a forked child reads, hashes and parses the file.

Parsing is about a third of a replay and needs nothing from the engine, so on a
machine with two cores it can run beside ``Engine.apply``. The child sends, per
chunk of lines, the rejections with their line numbers (one orjson message) and the
valid events, encoded from their definition (``schemas/wire.py``: MessagePack,
decoded straight into the frozen event structs), through a pipe. The pipe
is the bounded queue: when the main process is slower, the child blocks on a full
pipe with at most one chunk in hand.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO

import orjson

from agents.audit.framing import EXPORT_HEADER, parse_plain, parse_record
from agents.audit.replay.coverage import EventTimes
from agents.audit.replay.lines import BoundedLines, LongLine, blank, first_limit, record_limit
from agents.audit.replay.reader import (
    CountingLines,
    InputSummary,
    RepeatedIds,
    first_of_each_id,
    read_events,
)
from agents.errors import EdcLatencyError
from schemas import Event, Rejection, wire

# Lines per message: big enough that orjson and the pipe cost little per line, small
# enough that the main process starts early and the child holds little memory.
CHUNK_LINES = 10_000

_CHUNK, _END, _UNREADABLE, _FAILED = 0, 1, 2, 3


def forking_is_safe() -> bool:
    """True when this process runs one thread, so a forked child cannot inherit a held lock.

    fork() copies only the calling thread: a lock another thread holds at that moment
    (a logging handler's, a client library's) stays held forever in the child, which
    would then hang. The command-line replay is single-threaded; a caller with other
    threads (a test harness, a long-lived service) gets the one-process path instead.
    """
    return threading.active_count() == 1


class ReaderFailed(EdcLatencyError):
    """The reading process could not go on; ``unreadable`` for an OSError reading the input."""

    def __init__(self, message: str, unreadable: bool) -> None:
        super().__init__(message)
        self.unreadable = unreadable


def read_events_pipelined(
    handle: BinaryIO,
    summary: InputSummary,
    progress: Callable[[int, int], None] | None = None,
    bounds: tuple[int, int | None] = (1 << 62, None),
    times: EventTimes | None = None,
    chunk_lines: int = CHUNK_LINES,
    drop_repeated: bool = False,
) -> Iterator[Event]:
    """What ``read_events`` yields for ``iter(handle)``, with the summary filled the same way.

    ``drop_repeated``: what ``first_of_each_id`` then yields instead, the later events of an
    event id dropped (after ``times`` counted them) and counted in ``summary.duplicates``,
    by the child.

    ``summary.digest`` is left untouched: the child hashes, and ``summary.sha256``
    answers from ``summary.hexdigest`` set at the end. ``progress`` gets (lines, bytes).
    ``times`` (empty) gets every valid event's time, counted in the child (off the
    engine's process: ~5% of its work) and merged into it at the end, as ``--jobs N``
    merges its jobs'. The child is ended and reaped however the caller stops iterating.
    """
    if not forking_is_safe():
        events = _read_in_process(handle, summary, progress, bounds, times)
        yield from first_of_each_id(events, summary) if drop_repeated else events
        return
    context = multiprocessing.get_context("fork")  # no re-import: the child starts at once
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child,
        args=(handle, sender, chunk_lines, bounds, times, drop_repeated),
        name="replay-reader",
        daemon=True,
    )
    child.start()
    sender.close()  # so the main process sees EOF if the child dies
    invalid = summary.invalid
    try:
        while True:
            try:
                payload = receiver.recv_bytes()
            except EOFError:
                child.join()
                raise ReaderFailed(
                    f"the reading process ended without an answer (exit status {child.exitcode})",
                    unreadable=False,
                ) from None
            message = orjson.loads(payload)
            tag = message[0]
            if tag != _CHUNK:
                if tag == _END:
                    summary.lines = message[1]
                    summary.hexdigest = message[2]
                    if times is not None:
                        times.merge(message[4])
                    if progress is not None:
                        progress(message[1], message[3])
                    return
                raise ReaderFailed(message[1], unreadable=tag == _UNREADABLE)
            for line, reason in message[3]:
                invalid.add(line, reason)
            events = _decode_events(receiver.recv_bytes())  # a chunk's second message
            summary.valid += len(events) + message[4]
            summary.duplicates += message[4]
            yield from events
            if progress is not None:
                progress(message[1], message[2])
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _read_in_process(
    handle: BinaryIO,
    summary: InputSummary,
    progress: Callable[[int, int], None] | None,
    bounds: tuple[int, int | None],
    times: EventTimes | None,
) -> Iterator[Event]:
    counted = CountingLines(BoundedLines(handle, first_limit(bounds[0]), summary.digest.update))
    show = (lambda lines: progress(lines, counted.bytes)) if progress is not None else None
    events = read_events(counted, summary, show, bounds)
    yield from events if times is None else timed(events, times)
    if progress is not None:
        progress(summary.lines, counted.bytes)


def timed(events: Iterable[Event], times: EventTimes) -> Iterator[Event]:
    """``events``, each added to ``times`` as it passes."""
    add = times.add
    for event in events:
        add(event)
        yield event


# The child sends only valid events, with every field.
_decode_events = wire.decoder(list[Event]).decode


def _child(
    handle: BinaryIO,
    sender: Connection,
    chunk_lines: int,
    bounds: tuple[int, int | None],
    times: EventTimes | None,
    drop_repeated: bool,
) -> None:
    """Read, hash and parse; one message per chunk, then the line count and digest."""
    digest = hashlib.sha256()
    update = digest.update
    number = read = 0
    events: list[Event] = []
    invalid: list[tuple[int, str]] = []
    max_bytes, allowed_us = bounds
    parse = parse_plain
    add_time = times.add if times is not None else None
    repeated = RepeatedIds() if drop_repeated else None
    repeats = repeated.repeats if repeated is not None else None
    dropped_before = 0  # duplicates dropped in the chunks sent so far
    lines = BoundedLines(handle, first_limit(max_bytes), update)  # long lines: hashed there
    with _telling_the_main_process(sender, "the reading process failed"):
        try:
            for number, line in enumerate(lines, 1):
                if number == 1:  # read at first_limit; the framing says the limit of the rest
                    lines.limit = record_limit(max_bytes) if line == EXPORT_HEADER else max_bytes
                if line.__class__ is LongLine:  # hashed by ``lines``, piece by piece
                    read += line.raw  # type: ignore[union-attr]
                    refused = line.rejection(max_bytes, parse is parse_record)  # type: ignore[union-attr]
                    invalid.append((number, refused.reason))
                else:
                    update(line)  # type: ignore[arg-type]
                    read += len(line)  # type: ignore[arg-type]
                    if number == 1 and line == EXPORT_HEADER:  # the framing, as read_events does
                        parse = parse_record
                    elif not blank(line, lines.limit):  # type: ignore[arg-type]
                        event = parse(line, max_bytes, allowed_us)  # type: ignore[arg-type]
                        if event.__class__ is Rejection:
                            invalid.append((number, event.reason))  # type: ignore[union-attr]
                        else:
                            if add_time is not None:
                                add_time(event)  # type: ignore[arg-type]
                            if repeats is None or not repeats(event.event_id):  # type: ignore[union-attr]
                                events.append(event)  # type: ignore[arg-type]
                if number % chunk_lines == 0:
                    dropped = repeated.count - dropped_before if repeated is not None else 0
                    _send_chunk(sender, number, read, invalid, events, dropped)
                    dropped_before += dropped
        except OSError as error:
            sender.send_bytes(orjson.dumps([_UNREADABLE, error.strerror or str(error)]))
            return
        dropped = repeated.count - dropped_before if repeated is not None else 0
        if events or invalid or dropped:
            _send_chunk(sender, number, read, invalid, events, dropped)
        counts = times.counts() if times is not None else None
        sender.send_bytes(orjson.dumps([_END, number, digest.hexdigest(), read, counts]))


def _send_chunk(
    sender: Connection,
    lines: int,
    read: int,
    invalid: list[tuple[int, str]],
    events: list[Event],
    dropped: int,
) -> None:
    """A chunk is two messages: its counts, rejections and dropped duplicates, then its events."""
    sender.send_bytes(orjson.dumps([_CHUNK, lines, read, invalid, dropped]))
    sender.send_bytes(wire.encode(events))
    invalid.clear()
    events.clear()


@contextmanager
def _telling_the_main_process(sender: Connection, what: str) -> Iterator[None]:
    """A child's body: Ctrl-C left to the main process, a failure sent to it, the pipe closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the main one ends us
    try:
        yield
    except BrokenPipeError:
        pass  # the main process stopped listening: it has its own error to tell
    except Exception:
        _tell_failure(sender, what)
    finally:
        sender.close()


def _tell_failure(sender: Connection, what: str) -> None:
    """The current exception's traceback to the main process (or stderr if it is gone)."""
    text = f"{what}:\n{traceback.format_exc()}"
    try:
        sender.send_bytes(orjson.dumps([_FAILED, text]))
    except OSError:
        print(text, file=sys.stderr)


def children_peak_rss_mib() -> float:
    """Peak resident memory of the largest reaped child (ru_maxrss is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


class TablesFailed(EdcLatencyError):
    """The child writing the tables failed; the message carries its traceback."""


class TablesWriter:
    """Builds files in a forked child (which sees the state as it was at the fork) and writes them.

    ``wait`` answers the child's peak resident memory in MiB; ``stop`` ends and reaps
    it however the main process got there.
    """

    def __init__(self, out: Path, build: Callable[[], dict[str, bytes]]) -> None:
        self._child: multiprocessing.process.BaseProcess | None = None
        if not forking_is_safe():
            for name, content in build().items():  # at once, in this process
                (out / name).write_bytes(content)
            return
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._child = context.Process(
            target=_write_files, args=(out, build, sender), name="replay-tables", daemon=True
        )
        self._child.start()
        sender.close()

    def wait(self) -> float | None:
        if self._child is None:
            return None
        try:
            message = orjson.loads(self._receiver.recv_bytes())
        except EOFError:
            self._child.join()
            raise TablesFailed(
                f"the tables process ended without an answer (exit status {self._child.exitcode})"
            ) from None
        if message[0] != _END:
            raise TablesFailed(message[1])
        peak: float | None = message[1]
        return peak

    def stop(self) -> None:
        if self._child is None:
            return
        self._receiver.close()
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()


def _write_files(out: Path, build: Callable[[], dict[str, bytes]], sender: Connection) -> None:
    with _telling_the_main_process(sender, "the tables process failed"):
        for name, content in build().items():
            (out / name).write_bytes(content)
        sender.send_bytes(orjson.dumps([_END, rss_mib("VmHWM")]))


def rss_mib(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (VmHWM: the peak resident set)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
