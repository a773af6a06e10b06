"""The two input bounds (schemas/limits.py) at their edges: a message of exactly
``max_message_bytes`` and an event dated exactly ``max_future_skew`` after the clock pass;
one byte, one microsecond more do not."""

from __future__ import annotations

import orjson
import pytest

from schemas import EntryEvent, Rejection, format_timestamp
from schemas.limits import (
    MESSAGE_TIME,
    WALL_CLOCK,
    live_bound,
    message_bound,
    not_after,
    parse_bounded,
    skew_us,
    too_far_ahead,
    too_large,
)

NOW = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
SKEW_S = 3600.0


def message(entered_us: int, padding: int = 0) -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": "e" + "x" * padding, "study_id": "S",
        "site_id": "site", "subject_id": "subj", "form_id": "VS", "record_id": "r",
        "entered_at": format_timestamp(entered_us),
    })  # fmt: skip


def test_a_message_of_exactly_the_limit_is_read_and_one_byte_more_is_refused():
    payload = message(NOW)
    size = len(payload)
    assert isinstance(parse_bounded(payload, size, None), EntryEvent)
    refused = parse_bounded(payload, size - 1, None)
    assert refused == Rejection(
        f"message too large: {size} bytes (max_message_bytes is {size - 1})"
    )
    assert too_large(size, size) is None
    assert too_large(size + 1, size) is not None


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_a_file_lines_end_does_not_count_against_the_limit(end):
    payload = message(NOW)
    assert isinstance(parse_bounded(payload + end, len(payload), None), EntryEvent)
    assert isinstance(parse_bounded(payload + end, len(payload) - 1, None), Rejection)


def test_an_event_exactly_the_allowed_skew_ahead_is_taken_one_microsecond_more_is_refused():
    bound = not_after(NOW, SKEW_S)
    assert bound == NOW + 3_600_000_000
    assert not_after(NOW, 0.0000015) == NOW + 2  # rounded to the microsecond
    assert isinstance(parse_bounded(message(bound), 4096, bound), EntryEvent)
    refused = parse_bounded(message(bound + 1), 4096, bound)
    assert refused == Rejection(
        "event time: more than max_future_skew ahead of its message's timestamp "
        "(latest accepted 2026-01-01T01:00:00Z)"
    )
    assert too_far_ahead(bound, bound) is None
    assert too_far_ahead(bound + 1, bound) == refused


def test_without_a_clock_or_a_skew_nothing_is_too_far_ahead():
    assert not_after(None, SKEW_S) is None
    assert not_after(NOW, None) is None
    assert too_far_ahead(NOW + 10**15, None) is None
    assert isinstance(parse_bounded(message(NOW + 10**15), 4096, None), EntryEvent)


def test_a_tombstone_and_a_bad_message_are_refused_by_their_own_reason():
    assert parse_bounded(None, 4096, NOW) == Rejection("empty message: null value (tombstone)")
    refused = parse_bounded(b"[]", 4096, NOW)
    assert refused == Rejection("not a JSON object: got list")


def test_the_allowed_skew_in_microseconds_is_rounded_and_none_turns_the_check_off():
    assert skew_us(SKEW_S) == 3_600_000_000
    assert skew_us(0.0000015) == 2
    assert skew_us(0.0) == 0
    assert skew_us(None) is None


def test_a_messages_bound_is_its_timestamp_plus_the_skew_even_at_timestamp_zero():
    """The replay's bound (the message's own Kafka timestamp): none without a skew or a
    timestamp (-1: written without one); 0 is a timestamp like any other."""
    allowed = skew_us(SKEW_S)
    ms = NOW // 1000
    assert message_bound(ms, allowed) == NOW + allowed
    assert message_bound(0, allowed) == allowed
    assert message_bound(0, 0) == 0
    assert message_bound(-1, allowed) is None
    assert message_bound(None, allowed) is None
    assert message_bound(ms, None) is None


def test_the_workers_bound_is_the_message_timestamp_up_to_the_wall_clock_and_no_later():
    """A timestamp equal to the wall clock is still the message's; one millisecond later
    the wall clock judges (a CreateTime in the future cannot carry an event past it)."""
    allowed = skew_us(SKEW_S)
    ms = NOW // 1000
    assert live_bound(ms, NOW, allowed) == (NOW + allowed, MESSAGE_TIME)
    assert live_bound(ms - 1, NOW, allowed) == (NOW - 1000 + allowed, MESSAGE_TIME)
    assert live_bound(ms + 1, NOW, allowed) == (NOW + allowed, WALL_CLOCK)
    assert live_bound(0, 0, allowed) == (allowed, MESSAGE_TIME)
    assert live_bound(-1, NOW, allowed) == (NOW + allowed, WALL_CLOCK)
    assert live_bound(None, NOW, allowed) == (NOW + allowed, WALL_CLOCK)
    assert live_bound(ms, NOW, None) == (None, MESSAGE_TIME)
    assert live_bound(None, NOW, None) == (None, MESSAGE_TIME)


def test_a_refusal_names_the_clock_the_event_was_judged_against():
    bound = not_after(NOW, SKEW_S)
    refused = parse_bounded(message(bound + 1), 4096, bound, WALL_CLOCK)
    assert refused == Rejection(
        "event time: more than max_future_skew ahead of the wall clock "
        "(latest accepted 2026-01-01T01:00:00Z)"
    )
