"""Input lines → events, with line numbers, the SHA-256 of everything read, and the rejects.

Two framings (agents/audit/framing.py): plain JSONL, one message value per line, and an
export of format 2, told by its first line, one record per message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from agents.audit.framing import EXPORT_HEADER, parse_plain, parse_record
from agents.audit.replay.lines import BoundedLines, InvalidLines, LongLine, blank, record_limit
from schemas import Event, Rejection


@dataclass(slots=True)
class InputSummary:
    source: str
    lines: int = 0
    valid: int = 0
    invalid: InvalidLines = field(default_factory=InvalidLines)
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    hexdigest: str | None = None  # set instead of ``digest`` when another process hashed
    # Valid lines repeating an earlier valid line's event id, when the reader drops them
    # (``first_of_each_id``): the engine, fed only first ones, counts none itself.
    duplicates: int = 0

    @property
    def sha256(self) -> str:
        return self.hexdigest if self.hexdigest is not None else self.digest.hexdigest()


def read_events(
    lines: Iterable[bytes | LongLine],
    summary: InputSummary,
    progress: Callable[[int], None] | None = None,
    bounds: tuple[int, int | None] = (1 << 62, None),
) -> Iterator[Event]:
    """Valid events in input order; blank lines skipped; invalid lines noted with their number.

    ``bounds``: (max_message_bytes, max_future_skew in µs or None) of ``schemas/limits.py``;
    the skew bounds only records of an export, which carry their message's timestamp.
    ``lines`` may be ``BoundedLines`` (a file): its limit is set here once the framing is
    known, and a ``LongLine`` (hashed by it already) is refused by its size.
    """
    max_bytes, allowed_us = bounds
    update = summary.digest.update
    invalid = summary.invalid
    number = 0
    parse = parse_plain
    framed = False
    limit = max_bytes  # of a line: the message's, or (an export's) a record's
    bounded = lines if lines.__class__ is BoundedLines else getattr(lines, "bounded", None)
    for number, line in enumerate(lines, 1):
        if number == 1 and bounded is not None:  # the first line (read at first_limit) tells
            bounded.limit = record_limit(max_bytes) if line == EXPORT_HEADER else max_bytes
        if line.__class__ is LongLine:
            invalid.add(number, line.rejection(max_bytes, framed).reason)  # type: ignore[union-attr]
            continue
        update(line)  # type: ignore[arg-type]
        if blank(line, limit):  # type: ignore[arg-type]  # copies nothing
            continue
        if number == 1 and line == EXPORT_HEADER:
            parse, framed, limit = parse_record, True, record_limit(max_bytes)
            continue
        event = parse(line, max_bytes, allowed_us)  # type: ignore[arg-type]
        if event.__class__ is Rejection:
            invalid.add(number, event.reason)  # type: ignore[union-attr]
            continue
        summary.valid += 1
        if progress is not None and number & 0x3FFF == 0:
            progress(number)
        yield event  # type: ignore[misc]
    summary.lines = number


class RepeatedIds:
    """The replay's duplicate rule, ahead of its engine: the first valid line of an event
    id wins, whatever it holds; a later one is a duplicate. One set look-up an event where
    the engine's memory takes two, and in the reading process, off the engine's."""

    __slots__ = ("count", "seen")

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.count = 0

    def repeats(self, event_id: str) -> bool:
        """Whether an earlier event had this id (counted); remembers it otherwise."""
        seen = self.seen
        size = len(seen)
        seen.add(event_id)
        if len(seen) == size:
            self.count += 1
            return True
        return False


def first_of_each_id(events: Iterable[Event], summary: InputSummary) -> Iterator[Event]:
    """``events`` without the later ones of each event id, counted in ``summary.duplicates``."""
    repeated = RepeatedIds()
    repeats = repeated.repeats
    try:
        for event in events:
            if not repeats(event.event_id):
                yield event
    finally:
        summary.duplicates += repeated.count


class CountingLines:
    """Counts the bytes of the lines that pass through (for the progress bar)."""

    def __init__(self, lines: Iterable[bytes | LongLine]) -> None:
        self._lines = lines
        self.bytes = 0
        self.bounded = lines if isinstance(lines, BoundedLines) else None  # for read_events

    def __iter__(self) -> Iterator[bytes | LongLine]:
        for line in self._lines:
            self.bytes += line.raw if line.__class__ is LongLine else len(line)  # type: ignore[union-attr,arg-type]
            yield line
