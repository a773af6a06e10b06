"""Timestamps: the fast path and the general parser agree with Python's own datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.timestamps import format_timestamp, parse_timestamp_us

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@settings(max_examples=300)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.sampled_from([None, 0, 60, -330, 845]),
    st.sampled_from(["", ".123", ".123456", ".5", ".123456789"]),
)
def test_every_shape_parses_to_the_same_instant_as_datetime(moment, offset_min, fraction):
    base = moment.replace(microsecond=0).isoformat(timespec="seconds")
    suffix = "Z" if offset_min is None else _offset(offset_min)
    text = base + fraction + suffix
    tz = UTC if offset_min is None else timezone(timedelta(minutes=offset_min))
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    expected = moment.replace(microsecond=micros, tzinfo=tz)
    assert parse_timestamp_us(text) == (expected - EPOCH) // timedelta(microseconds=1)


@settings(max_examples=300)
@given(st.integers(-(10**15), 10**17))
def test_format_then_parse_round_trips(us):
    assert parse_timestamp_us(format_timestamp(us)) == us


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"
