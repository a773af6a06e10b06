"""Lines read with a size limit and invalid lines kept within a bound (agents/audit/replay/lines.py).

The twin of a bounded read is reading each line whole, as the replay did: for any
file, both give the same events, the same reasons, the same line numbers and the
same SHA-256, at every limit.
"""

from __future__ import annotations

import io
import os

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit.framing import EXPORT_HEADER, record_line
from agents.audit.replay.lines import (
    BoundedLines,
    InvalidLines,
    LongLine,
    first_limit,
    record_limit,
)
from agents.audit.replay.reader import InputSummary, read_events

ENTRY = orjson.dumps({
    "schema": "edc.entry/1", "event_id": "e1", "study_id": "S", "site_id": "s",
    "subject_id": "x", "form_id": "f", "record_id": "r", "entered_at": "2026-01-01T00:00:00Z",
})  # fmt: skip

FUZZ = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1  # make fuzz


def _whole(data: bytes, max_bytes: int) -> tuple[list[object], InputSummary]:
    summary = InputSummary(source="whole")
    events = list(read_events(io.BytesIO(data), summary, bounds=(max_bytes, None)))
    return events, summary


def _bounded(data: bytes, max_bytes: int) -> tuple[list[object], InputSummary]:
    summary = InputSummary(source="bounded")
    lines = BoundedLines(io.BytesIO(data), first_limit(max_bytes), summary.digest.update)
    events = list(read_events(lines, summary, bounds=(max_bytes, None)))
    return events, summary


_line = st.one_of(
    st.just(ENTRY),
    st.builds(
        lambda n: b'{"schema": "edc.entry/1", "pad": "' + b"y" * n + b'"}', st.integers(0, 400)
    ),
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from([b"", b" ", b"\r"]),
)
_ending = st.sampled_from([b"\n", b"\r\n"])


@settings(max_examples=FUZZ * 300, deadline=None)
@given(
    lines=st.lists(st.tuples(_line, _ending), max_size=12),
    last_ending=st.booleans(),
    framed=st.booleans(),
    max_bytes=st.integers(1, 400) | st.sampled_from([len(ENTRY) - 1, len(ENTRY), len(ENTRY) + 1]),
)
def test_a_bounded_read_says_what_a_whole_read_says(lines, last_ending, framed, max_bytes):
    body = [line + ending for line, ending in lines]
    if framed:
        body = [EXPORT_HEADER] + [
            record_line("t", 0, n, 0, line).rstrip(b"\n") + ending
            for n, (line, ending) in enumerate(lines)
        ]
    data = b"".join(body)
    if not last_ending and data.endswith(b"\n"):
        data = data.rstrip(b"\r\n")
    whole_events, whole = _whole(data, max_bytes)
    bounded_events, bounded = _bounded(data, max_bytes)
    assert bounded_events == whole_events
    assert (bounded.lines, bounded.valid, bounded.sha256) == (
        whole.lines,
        whole.valid,
        whole.sha256,
    )
    if framed:  # a record over its own limit is worded apart (never the case here)
        assert bounded.invalid.listed == whole.invalid.listed
    else:
        assert bounded.invalid == whole.invalid


# Lines of a few bytes where a limit of a few bytes meets every kind of line: whitespace (blank
# within the limit), a carriage return that is or is not part of the line's end, not JSON.
_short_line = st.lists(st.sampled_from([b"\x00", b"\r", b" ", b"\t", b"{}", b"x"]), max_size=5)


@settings(max_examples=FUZZ * 300, deadline=None)
@given(
    lines=st.lists(st.tuples(_short_line.map(b"".join), _ending), min_size=1, max_size=6),
    last_ending=st.booleans(),
    max_bytes=st.integers(1, 6),
)
def test_a_line_over_the_limit_is_refused_by_its_size_whatever_it_holds_wherever_it_is(
    lines, last_ending, max_bytes
):
    """One rule, read whole or in pieces, on the first line (read at a larger limit) or any
    other: a message is the line without one ``\\n`` or ``\\r\\n``; longer than the limit, it
    is "message too large" with that size; within it, whitespace is blank and skipped.
    (b"\\x00\\r" + b"\\r\\n" at a limit of 1 was "not JSON" whole and "too large" in pieces.)"""
    data = b"".join(line + ending for line, ending in lines)
    if not last_ending:
        data = data.removesuffix(lines[-1][1])
    *ended, last = data.split(b"\n")  # the last: after the last line end (b"" if none)
    messages = [line.removesuffix(b"\r") for line in ended] + ([last] if last else [])
    for read in (_whole, _bounded):
        _events, summary = read(data, max_bytes)
        reasons = dict(summary.invalid.listed)
        for number, message in enumerate(messages, 1):
            if len(message) > max_bytes:
                assert reasons.get(number) == (
                    f"message too large: {len(message)} bytes (max_message_bytes is {max_bytes})"
                ), (read.__name__, data)
            elif message.isspace() or not message:
                assert number not in reasons, (read.__name__, data)
            else:
                reason = reasons.get(number, "")  # not JSON, or {} without a schema
                assert reason.startswith(("not JSON", "schema:")), (read.__name__, data)


def test_a_line_is_held_up_to_the_limit_and_its_end_never_more():
    for ending in (b"\n", b"\r\n", b""):
        at_limit = b"x" * 100 + ending
        assert list(BoundedLines(io.BytesIO(at_limit), 100)) == [at_limit]
        # Two more bytes fit (a line end); a longer line is passed over, whatever its end.
        over = b"x" * 103 + ending
        assert list(BoundedLines(io.BytesIO(over), 100)) == [LongLine(103, len(over))]
    assert list(BoundedLines(io.BytesIO(b"x" * 101 + b"\r\n"), 100)) == [LongLine(101, 103)]


def test_a_long_line_is_hashed_in_pieces_and_the_next_line_is_read():
    data = b"x" * 300_000 + b"\r\n" + ENTRY + b"\n"
    hashed: list[bytes] = []
    lines = list(BoundedLines(io.BytesIO(data), 1000, hashed.append))
    assert lines == [LongLine(300_000, 300_002), ENTRY + b"\n"]
    assert b"".join(hashed) == b"x" * 300_000 + b"\r\n"
    assert max(len(piece) for piece in hashed) <= 1 << 16  # never held whole


def test_an_export_record_is_limited_to_what_a_message_of_max_bytes_takes():
    worst = record_line("edc.entries", 0, 2**62, 2**62, b"\x01" * 1000)  # every byte escaped
    assert len(worst) <= record_limit(1000) + 2


def test_invalid_lines_past_the_listed_maximum_are_counted_per_reason():
    invalid = InvalidLines(listed_max=2)
    for n in range(1, 6):
        invalid.add(n, f"message too large: {1000 + n} bytes (max_message_bytes is 1000)")
    invalid.add(6, "not JSON: x")
    assert len(invalid) == 6 and invalid.listed == [
        (1, invalid.listed[0][1]),
        (2, invalid.listed[1][1]),
    ]
    assert invalid.not_listed == {
        "message too large: # bytes (max_message_bytes is #)": 3, "not JSON: x": 1,
    }  # fmt: skip
    merged = InvalidLines(listed_max=3)
    merged.add(1, "a")
    merged.extend(invalid, line_base=10)
    assert merged.listed == [(1, "a"), (11, invalid.listed[0][1]), (12, invalid.listed[1][1])]
    assert len(merged) == 7 and sum(merged.not_listed.values()) == 4
