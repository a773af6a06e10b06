"""The export file, format 2: one JSON record per Kafka message, so every value survives as live saw it.

Format 1 wrote each message value as one line: a pretty-printed (multi-line) JSON
value became several invalid lines, a null (tombstone) value a blank line that was
skipped, and bytes that are not UTF-8 could not be told apart from a line break.
Format 2 starts with the line ``EXPORT_HEADER`` and then holds one record per line::

    {"offset":12,"partition":0,"timestamp":1767225600000,"topic":"edc.entries","value":"{...}"}

``value`` is the message value *as text*, exactly (a JSON string: newlines and
quotes escaped, nothing re-encoded), so the replay parses the very bytes live
parsed; ``null`` for a tombstone; ``value_base64`` instead when the bytes are not
UTF-8. ``timestamp`` is the message's Kafka timestamp (LogAppendTime where the
topic has it, else CreateTime), against which the replay judges the event time
(``schemas/limits.py``), as the worker did. A file whose first line is not the
header is read as plain JSONL (one value per line), as before, with no timestamps
and so no event-time bound.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from schemas import Event, Rejection
from schemas.limits import message_bound, parse_bounded
from schemas.parse import unreadable

EXPORT_FORMAT = "edc-latency.export/2"
EXPORT_HEADER = b'{"format":"edc-latency.export/2"}\n'
_NOT_A_RECORD = Rejection(f"export record: not a record of {EXPORT_FORMAT}")


def record_line(
    topic: str, partition: int, offset: int, timestamp_ms: int, value: bytes | None
) -> bytes:
    """The line of one message; ``value`` None is a tombstone."""
    record: dict[str, object] = {
        "offset": offset, "partition": partition, "timestamp": timestamp_ms, "topic": topic,
    }  # fmt: skip
    if value is None:
        record["value"] = None
    else:
        try:
            record["value"] = value.decode("utf-8")
        except UnicodeDecodeError:
            record["value_base64"] = base64.b64encode(value).decode("ascii")
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


def message_value(line: bytes | str) -> str | bytes | Rejection | None:
    """The message value a record line holds (text, bytes, None for a tombstone), or why not."""
    value, _timestamp = message_of(line)
    return value


def message_of(line: bytes | str) -> tuple[str | bytes | Rejection | None, int | None]:
    """(``message_value``, the message's Kafka timestamp in ms or None) of a record line."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _NOT_A_RECORD, None
    if not isinstance(record, dict):
        return _NOT_A_RECORD, None
    timestamp = record.get("timestamp")
    if timestamp.__class__ is not int:
        timestamp = None  # the record says nothing believable: no event-time bound
    if "value" in record:
        value = record["value"]
        if value is None or isinstance(value, str):
            return value, timestamp
        return _NOT_A_RECORD, None
    encoded = record.get("value_base64")
    if not isinstance(encoded, str):
        return _NOT_A_RECORD, None
    try:
        return base64.b64decode(encoded, validate=True), timestamp
    except (binascii.Error, ValueError):
        return _NOT_A_RECORD, None


def parse_record(line: bytes | str, max_bytes: int, allowed_us: int | None) -> Event | Rejection:
    """What live made of the message a record line holds: an event or its one-line rejection.

    The same bounds as live (schemas/limits.py), on the message's own bytes, the event
    time judged against the message's own timestamp (``allowed_us``: max_future_skew,
    None when off). Never raises: a record that cannot be read at all is its line's
    rejection.
    """
    try:
        value, timestamp_ms = message_of(line)
    except Exception as error:  # e.g. MemoryError on a huge record: this line only
        return unreadable(error)
    if value.__class__ is Rejection:
        return value  # type: ignore[return-value]
    if value.__class__ is str:
        value = value.encode()  # type: ignore[union-attr]  # the exact bytes live had
    return parse_bounded(value, max_bytes, message_bound(timestamp_ms, allowed_us))  # type: ignore[arg-type]


def parse_plain(line: bytes, max_bytes: int, allowed_us: int | None) -> Event | Rejection:
    """A plain JSONL line: a message value with no timestamp, so no event-time bound."""
    return parse_bounded(line, max_bytes, None)
