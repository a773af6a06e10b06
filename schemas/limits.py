"""The two bounds every input message meets before it counts, live and in the replay alike.

* Size: a value over ``max_bytes`` is not parsed (parsing and routing it would cost
  memory and produce a shard message the producer cannot send).
* Event time: an event dated more than ``max_future_skew`` after the Kafka timestamp
  of the message that carried it is not believed. One such event would otherwise
  move the engine's watermark, and with it the retention horizon, past all real
  data (docs/design.md, "Retention").

The message timestamp is the one the consumer receives: the broker's LogAppendTime
where the topic is configured with ``message.timestamp.type=LogAppendTime``, else
the producer's CreateTime. It belongs to the message, so the worker, ``export`` and
both replays judge an event the same way whenever they run and whatever ``--as-of``
is (``tests/integration/test_skew_verdicts.py``). A CreateTime is the producer's
word: the worker also bounds it by its wall clock (``live_bound``), so no producer
moves the event clock past today; a replay cannot know when the worker read a
message, and believes the timestamp (use LogAppendTime to make both the broker's).
A plain JSONL file has no message timestamps: no event-time bound, and the report
says so.

Pure: every instant is a parameter.
"""

from __future__ import annotations

from schemas.events import Event
from schemas.parse import Rejection, parse_event
from schemas.timestamps import US_PER_SECOND, format_timestamp

US_PER_MS = 1000

MESSAGE_TIME = "its message's timestamp"
WALL_CLOCK = "the wall clock"


def message_size(payload: bytes | bytearray | memoryview) -> int:
    """The size the bound judges: a file line's end (one ``\\n`` or ``\\r\\n``) is framing, not
    message; every other byte counts, a ``\\r`` before that end included. The replay's
    bounded reads count a line passed over in pieces the same way (agents/audit/replay/lines.py)."""
    size = len(payload)
    if size and payload[-1] == 10:
        return size - 2 if size > 1 and payload[-2] == 13 else size - 1
    return size


def too_large(size: int, max_bytes: int) -> Rejection | None:
    if size > max_bytes:
        return Rejection(f"message too large: {size} bytes (max_message_bytes is {max_bytes})")
    return None


def too_far_ahead(
    time_us: int, not_after_us: int | None, against: str = MESSAGE_TIME
) -> Rejection | None:
    """Rejection for an event dated after ``not_after_us`` (a clock + allowed skew); None: fine."""
    if not_after_us is not None and time_us > not_after_us:
        # The bound is ours, not input: safe to name. The event's own time is not echoed.
        return Rejection(
            f"event time: more than max_future_skew ahead of {against} "
            f"(latest accepted {format_timestamp(not_after_us)})"
        )
    return None


def skew_us(max_future_skew_s: float | None) -> int | None:
    """The allowed skew in microseconds; None when the check is off."""
    return None if max_future_skew_s is None else round(max_future_skew_s * US_PER_SECOND)


def not_after(now_us: int | None, max_future_skew_s: float | None) -> int | None:
    """The latest acceptable event time for a clock reading; None when unbounded."""
    if now_us is None or max_future_skew_s is None:
        return None
    return now_us + round(max_future_skew_s * US_PER_SECOND)


def message_bound(timestamp_ms: int | None, allowed_us: int | None) -> int | None:
    """The latest believable event time of a message with this Kafka timestamp.

    None (no bound) when the check is off or the message has no timestamp (a plain
    JSONL line; Kafka's -1 of a message written without one).
    """
    if allowed_us is None or timestamp_ms is None or timestamp_ms < 0:
        return None
    return timestamp_ms * US_PER_MS + allowed_us


def live_bound(
    timestamp_ms: int | None, wall_us: int, allowed_us: int | None
) -> tuple[int | None, str]:
    """(latest believable event time, what it was judged against) for the worker.

    The message's timestamp, but never later than the wall clock: a CreateTime set in
    the future cannot carry an event past today (+ the skew), so neither the event
    clock (``clock = "event"``) nor the retention horizon can be moved ahead of it.
    """
    if allowed_us is None:
        return None, MESSAGE_TIME
    if timestamp_ms is None or timestamp_ms < 0 or timestamp_ms * US_PER_MS > wall_us:
        return wall_us + allowed_us, WALL_CLOCK
    return timestamp_ms * US_PER_MS + allowed_us, MESSAGE_TIME


def parse_bounded(
    payload: bytes | bytearray | memoryview | None,
    max_bytes: int,
    not_after_us: int | None,
    against: str = MESSAGE_TIME,
) -> Event | Rejection:
    """``parse_event`` behind both bounds; a null value (tombstone) is a rejection too."""
    if payload is None:
        return Rejection("empty message: null value (tombstone)")
    size = len(payload)
    if size > max_bytes:
        rejected = too_large(message_size(payload), max_bytes)
        if rejected is not None:
            return rejected
    event = parse_event(payload)
    if event.__class__ is Rejection or not_after_us is None:  # no bound: a file's line
        return event
    return too_far_ahead(event.time_us, not_after_us, against) or event  # type: ignore[union-attr]
