"""The two bounds every input message meets before it counts, live and in the replay alike.

* Size: a value over ``max_bytes`` is not parsed (parsing and routing it would cost
  memory and produce a shard message the producer cannot send).
* Event time: an event dated more than the allowed skew after "now" is not
  believed. One such event would otherwise move the engine's watermark, and with
  it the retention horizon, past all real data (docs/design.md, "Retention").

Pure: "now" is a parameter. The live router passes the wall clock (or, with
``clock = "event"``, the newest event time it accepted); the replay passes
``--as-of``. Both therefore reject the same events with the same words.
"""

from __future__ import annotations

from schemas.events import Event
from schemas.parse import Rejection, parse_event
from schemas.timestamps import US_PER_SECOND, format_timestamp


def too_large(size: int, max_bytes: int) -> Rejection | None:
    if size > max_bytes:
        return Rejection(f"message too large: {size} bytes (max_message_bytes is {max_bytes})")
    return None


def too_far_ahead(time_us: int, not_after_us: int | None) -> Rejection | None:
    """Rejection for an event dated after ``not_after_us`` (now + allowed skew); None: fine."""
    if not_after_us is not None and time_us > not_after_us:
        # The bound is ours, not input: safe to name. The event's own time is not echoed.
        return Rejection(
            f"event time: more than max_future_skew ahead of the clock "
            f"(latest accepted {format_timestamp(not_after_us)})"
        )
    return None


def not_after(now_us: int | None, max_future_skew_s: float | None) -> int | None:
    """The latest acceptable event time for a clock reading; None when unbounded."""
    if now_us is None or max_future_skew_s is None:
        return None
    return now_us + round(max_future_skew_s * US_PER_SECOND)


def parse_bounded(
    payload: bytes | bytearray | memoryview | None, max_bytes: int, not_after_us: int | None
) -> Event | Rejection:
    """``parse_event`` behind both bounds; a null value (tombstone) is a rejection too."""
    if payload is None:
        return Rejection("empty message: null value (tombstone)")
    size = len(payload)
    if size > max_bytes:
        if isinstance(payload, bytes):
            size = len(payload.rstrip(b"\r\n"))  # a file line's end is framing, not message
        rejected = too_large(size, max_bytes)
        if rejected is not None:
            return rejected
    event = parse_event(payload)
    if event.__class__ is Rejection:
        return event
    return too_far_ahead(event.time_us, not_after_us) or event  # type: ignore[union-attr]
