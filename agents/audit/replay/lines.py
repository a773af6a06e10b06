"""Input lines read with a size limit, and invalid lines kept within a bound: the replay's memory.

A file is read line by line, but a line is held only up to a limit: a longer one is
passed through in pieces (to the digest and the byte count) and yields a ``LongLine``
that says its size, never its bytes. Plain JSONL lines are limited to
``max_message_bytes`` (a longer one is refused with live's words); an export's
records to what a record of a message of that size can take (``record_limit``).

Invalid lines: the first ``listed_max`` with their number and reason, the rest
counted per reason with their numbers written ``#`` (reasons never echo input, so
what is left is our wording: a small set however hostile the file). A schema's
version is not a number of the line and stays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from agents.audit.framing import EXPORT_HEADER
from schemas import Rejection
from schemas.limits import message_size, too_large

_PIECE = 1 << 16  # what the rest of a long line is read in
_NUMBER = re.compile(r"(?<!/)\d+")  # not a schema's version (edc.entry/1)


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line longer than the limit, read and passed on in pieces, never held whole."""

    size: int  # bytes without the line end, as a message's size is counted
    raw: int  # bytes with the line end: what the file held

    def rejection(self, max_bytes: int, framed: bool) -> Rejection:
        if framed:
            return Rejection(
                f"export record: longer than {record_limit(max_bytes)} bytes, more than a "
                f"record of a message of max_message_bytes ({max_bytes}) takes"
            )
        return too_large(self.size, max_bytes)  # type: ignore[return-value]


def blank(line: bytes, limit: int) -> bool:
    """A line of whitespace within ``limit``, skipped. One the size rule refuses is refused
    whatever it holds: a line passed over in pieces is never looked at (``LongLine``), so a
    line read whole must not be told apart by its bytes either (the same reason at any limit)."""
    return line.isspace() and message_size(line) <= limit


def first_limit(max_bytes: int) -> int:
    """The limit of a file's first line, before its framing is known: the export's header
    must be read whole to be told (a longer plain line is refused by its size all the same)."""
    return max(max_bytes, len(EXPORT_HEADER))


def record_limit(max_bytes: int) -> int:
    """The longest export record of a message of ``max_bytes``: each byte escaped as ``\\u00XX``
    at worst (base64 takes 4/3), plus the record's other fields."""
    return 6 * max_bytes + 1024


class BoundedLines:
    """The lines of ``handle``, each held up to ``limit`` bytes (plus its line end).

    ``limit`` may be changed between lines (the framing is told by the first line).
    ``skipped`` gets the bytes of every ``LongLine``, piece by piece (for the digest).
    """

    def __init__(
        self, handle: BinaryIO, limit: int, skipped: Callable[[bytes], Any] | None = None
    ) -> None:
        self.handle = handle
        self.limit = limit
        self.skipped = skipped

    def __iter__(self) -> Iterator[bytes | LongLine]:
        readline = self.handle.readline
        while True:
            cap = self.limit + 2  # room for "\r\n": a line exactly at the limit is whole
            line = readline(cap)
            if len(line) < cap or line[-1] == 10:  # whole, or the last without an end
                if not line:
                    return
                yield line
                continue
            yield self._rest(line)

    def _rest(self, head: bytes) -> LongLine:
        skipped = self.skipped
        raw = len(head)
        if skipped is not None:
            skipped(head)
        before, piece = head[-1:], head
        while piece[-1:] != b"\n":
            before = piece[-1:] or before
            piece = self.handle.readline(_PIECE)
            if not piece:
                return LongLine(raw, raw)  # the file's last line, without an end
            raw += len(piece)
            if skipped is not None:
                skipped(piece)
        end = (before + piece)[-2:]  # the line's last two bytes, whichever pieces held them
        return LongLine(raw - len(end) + message_size(end), raw)


@dataclass(slots=True)
class InvalidLines:
    """The invalid lines of an input: the first ``listed_max`` listed, the rest counted."""

    listed_max: int = 1 << 62
    listed: list[tuple[int, str]] = field(default_factory=list)
    not_listed: dict[str, int] = field(default_factory=dict)  # reason, numbers as '#'
    count: int = 0

    def __len__(self) -> int:
        return self.count

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.listed) < self.listed_max:
            self.listed.append((line, reason))
            return
        kind = _NUMBER.sub("#", reason)
        self.not_listed[kind] = self.not_listed.get(kind, 0) + 1

    def extend(self, other: InvalidLines, line_base: int = 0) -> None:
        """``other``'s lines after these (its numbers shifted by ``line_base``)."""
        for line, reason in other.listed:
            self.add(line_base + line, reason)
        for kind, n in other.not_listed.items():
            self.not_listed[kind] = self.not_listed.get(kind, 0) + n
            self.count += n

    def as_message(self) -> list[Any]:
        """Plain data for a pipe (orjson); ``from_message`` reads it back."""
        return [self.listed, self.not_listed, self.count]

    @classmethod
    def from_message(cls, message: list[Any], listed_max: int) -> InvalidLines:
        listed, not_listed, count = message
        return cls(listed_max, [(line, reason) for line, reason in listed], not_listed, count)
