"""Input lines → events, with line numbers, the SHA-256 of everything read, and the rejects.

Two framings (agents/audit/framing.py): plain JSONL, one message value per line, and an
export of format 2, told by its first line, one record per message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from agents.audit.framing import EXPORT_HEADER, parse_plain, parse_record
from schemas import Event, Rejection


@dataclass(slots=True)
class InputSummary:
    source: str
    lines: int = 0
    valid: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    hexdigest: str | None = None  # set instead of ``digest`` when another process hashed

    @property
    def sha256(self) -> str:
        return self.hexdigest if self.hexdigest is not None else self.digest.hexdigest()


def read_events(
    lines: Iterable[bytes],
    summary: InputSummary,
    progress: Callable[[int], None] | None = None,
    bounds: tuple[int, int | None] = (1 << 62, None),
) -> Iterator[Event]:
    """Valid events in input order; blank lines skipped; invalid lines noted with their number.

    ``bounds``: (max_message_bytes, max_future_skew in µs or None) of ``schemas/limits.py``;
    the skew bounds only records of an export, which carry their message's timestamp.
    """
    max_bytes, allowed_us = bounds
    update = summary.digest.update
    invalid = summary.invalid
    number = 0
    parse = parse_plain
    for number, line in enumerate(lines, 1):
        update(line)
        if not line or line.isspace():  # blank; unlike strip(), copies nothing
            continue
        if number == 1 and line == EXPORT_HEADER:
            parse = parse_record
            continue
        event = parse(line, max_bytes, allowed_us)
        if event.__class__ is Rejection:
            invalid.append((number, event.reason))  # type: ignore[union-attr]
            continue
        summary.valid += 1
        if progress is not None and number & 0x3FFF == 0:
            progress(number)
        yield event  # type: ignore[misc]
    summary.lines = number


class CountingLines:
    """Counts the bytes of the lines that pass through (for the progress bar)."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = lines
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self._lines:
            self.bytes += len(line)
            yield line
