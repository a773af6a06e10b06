"""Timestamps: the fast path and the general parser agree with Python's own datetime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from schemas.timestamps import (
    _RFC3339,
    TimestampFormatter,
    digits_timestamp_us,
    format_timestamp,
    general_timestamp_us,
    offset_timestamp_us,
    parse_timestamp_us,
    utc_timestamp_us,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Each parser: the whole one (its fast paths take every valid shape), and the general one
# alone, the rule the fast paths must equal, which only refusals reach through the whole one.
PARSERS = pytest.mark.parametrize("parse", [parse_timestamp_us, general_timestamp_us])


@PARSERS
@settings(max_examples=300)
@given(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.sampled_from([None, 0, 60, -330, 845, 1439, -1439]),
    st.sampled_from(["", ".123", ".123456", ".5", ".123456789", ".000001", ".999999999"]),
)
def test_every_shape_parses_to_the_same_instant_as_datetime(parse, moment, offset_min, fraction):
    base = moment.replace(microsecond=0).isoformat(timespec="seconds")
    suffix = "Z" if offset_min is None else _offset(offset_min)
    text = base + fraction + suffix
    tz = UTC if offset_min is None else timezone(timedelta(minutes=offset_min))
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    expected = moment.replace(microsecond=micros, tzinfo=tz)
    assert parse(text) == (expected - EPOCH) // timedelta(microseconds=1)


@settings(max_examples=300)
@given(st.integers(-(10**15), 10**17))
def test_format_then_parse_round_trips(us):
    assert parse_timestamp_us(format_timestamp(us)) == us


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _reference(text: str, *, with_offset: bool) -> int | None:
    """The shape (``Z``, or ``±hh:mm`` with ``with_offset``) by way of the regular expression
    and datetime: None when invalid."""
    match = _RFC3339.match(text)
    if match is None or (match.group(9) is None if with_offset else match.group(8) != "Z"):
        return None
    hours, minutes = (int(match.group(10)), int(match.group(11))) if with_offset else (0, 0)
    if hours > 23 or minutes > 59:
        return None
    try:
        moment = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    except ValueError:
        return None
    fraction = match.group(7) or ""
    micros = int((fraction + "000000")[:6])
    offset = timedelta(hours=hours, minutes=minutes) * (1 if match.group(9) == "+" else -1)
    return (moment - offset - EPOCH) // timedelta(microseconds=1) + micros


def _agrees_with_the_reference(
    fast_path: Callable[[str], int | None], text: str, *, with_offset: bool
) -> None:
    """``fast_path`` gives the reference's instant, or None where the reference refuses."""
    assume(not text.startswith("0000"))  # valid for us, before datetime's year 1
    fast = fast_path(text)
    assert fast == _reference(text, with_offset=with_offset)
    if fast is not None:
        assert parse_timestamp_us(text) == general_timestamp_us(text) == fast


# Whole seconds of every year datetime has, and fractions right and wrong.
_MOMENTS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
_FRACTIONS = st.sampled_from(["", ".1", ".123", ".123456", ".1234567", ".", ".1_2", ".²"])


def _shaped(suffixes: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A timestamp's seconds, a fraction and a suffix drawn from ``suffixes``."""
    return st.builds(
        lambda moment, fraction, suffix: moment.isoformat(timespec="seconds") + fraction + suffix,
        _MOMENTS, _FRACTIONS, suffixes,
    )


_UTC_SHAPED = st.one_of(
    st.text(alphabet="0123456789-:TZtz.+ _²٣", min_size=18, max_size=30),
    _shaped(st.sampled_from(["Z", "", "z", "ZZ", " Z", "+00:00", "Z\n"])),
)


# Near misses one character from valid, which drawn text seldom holds: a clock separator
# replaced, ":" (the character after "9") as a units digit, a fraction with a non-digit.
_NEAR_MISSES = (
    "2026-01-01T10:00x00Z", "2026-01-01T10x00:00Z", "2026-01-01T10:0::00Z",
    "2026-01-01T10:00:0:Z", "2026-01-01T10:00:00.12345²Z", "2026-01-01T10:00:00.1234a5Z",
    "2026-01-01T10:00x00.123456Z", "2026-01-01T10:0::00.123456Z", "2026-01-01T10:00:00.Z",
)  # fmt: skip


def _with_near_misses(test: Callable[..., None]) -> Callable[..., None]:
    for text in _NEAR_MISSES:
        test = example(text)(test)
    return test


@_with_near_misses
@settings(max_examples=2000)
@given(_UTC_SHAPED)
def test_cached_fast_path_is_as_strict_as_the_regular_expression(text):
    # utc_timestamp_us answers from caches of validated dates and clocks: a hit must
    # never accept what the regular expression and the calendar reject.
    _agrees_with_the_reference(utc_timestamp_us, text, with_offset=False)


@settings(max_examples=1000)
@given(
    st.lists(
        st.one_of(
            st.integers(-(10**17), 10**18),
            st.integers(0, 400).map(lambda d: 1_767_225_600_000_000 + d * 3_600_000_000),
            st.integers(0, 10**6).map(lambda ms: 1_767_225_600_000_000 + ms * 1000),
            # whole seconds and milliseconds anywhere: the clock and fraction tables
            st.integers(-(10**11), 10**12).map(lambda s: s * 1_000_000),
            st.integers(-(10**14), 10**15).map(lambda ms: ms * 1000),
        ),
        max_size=20,
    )
)
def test_cached_formatter_writes_what_format_timestamp_writes(values):
    formatter = TimestampFormatter()
    for us in values + values:  # the second pass answers from the caches
        assert formatter(us) == format_timestamp(us)


@pytest.mark.parametrize(
    ("us", "seconds"),
    [
        (0, 0.0),
        (499, 0.0),  # below half a millisecond: down
        (500, 0.001),  # exactly half: away from zero
        (1_499, 0.001),
        (1_500, 0.002),
        (86_400_000_000, 86_400.0),
        (-499, 0.0),
        (-500, -0.001),  # half away from zero on the negative side too
        (-1_500, -0.002),
    ],
)
def test_seconds_ms_rounds_half_a_millisecond_away_from_zero(us, seconds):
    from schemas.timestamps import seconds_ms

    assert seconds_ms(us) == seconds


def test_seconds_ms_of_zero_is_a_plain_zero():
    """Not -0.0, which JSON would write as "-0.0"."""
    from schemas.timestamps import seconds_ms

    assert repr(seconds_ms(0)) == "0.0"
    assert repr(seconds_ms(1)) == "0.0"


@pytest.mark.parametrize(
    ("text", "valid"),
    [("2024-02-29", True), ("2023-02-29", False), ("2000-02-29", True), ("1900-02-29", False),
     ("2026-04-30", True), ("2026-04-31", False), ("2026-12-31", True), ("2026-13-01", False),
     ("2399-12-31", True)],  # a date nothing parsed before: not in the cache
)  # fmt: skip
def test_a_calendar_date_is_checked_against_its_own_year_and_month(text, valid):
    from schemas.timestamps import check_calendar_date, is_calendar_date

    assert is_calendar_date(text) == valid
    if valid:
        assert check_calendar_date(text) == text
    else:
        with pytest.raises(ValueError, match="impossible date"):
            check_calendar_date(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-01-01T00:00:60Z", "impossible time of day"),
        ("2026-01-01T00:00:60+01:00", "impossible time of day"),
        ("2026-01-01T00:60:00+01:00", "impossible time of day"),
        ("2026-01-01T00:00:00+24:00", "impossible UTC offset"),
        ("2026-01-01T00:00:00+00:60", "impossible UTC offset"),
    ],
)
@PARSERS
def test_the_clock_and_the_offset_stop_at_their_last_value(parse, text, reason):
    with pytest.raises(ValueError, match=reason):
        parse(text)


@PARSERS
def test_the_last_clock_and_offset_values_are_exact_integers(parse):
    assert parse("2026-01-01T23:59:59+23:59") == parse("2026-01-01T00:00:59Z")
    assert parse("2026-01-01T23:59:59Z") == parse("2026-01-02T00:00:00Z") - 1_000_000
    west = parse("2026-01-01T00:00:00-01:30")
    assert (type(west), west) == (int, parse("2026-01-01T01:30:00Z"))


_OFFSET_SHAPED = st.one_of(
    st.text(alphabet="0123456789-:T+.Z _²٣", min_size=23, max_size=36),
    _shaped(
        st.one_of(
            st.sampled_from(["+00:00", "-00:00", "+23:59", "-24:00", "+05:60", "+5:30",
                             "+05:3٣", "+05:30 ", "Z", "", "+0530", "±05:30"]),
            st.builds(
                lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
                st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99),
            ),
        ),
    ),
)  # fmt: skip


@settings(max_examples=2000)
@given(_OFFSET_SHAPED)
def test_offset_fast_path_is_as_strict_as_the_regular_expression(text):
    # The fast path of "±hh:mm" must accept exactly what the general parser accepts in
    # that shape, at the same instant; None hands every other text to the general parser.
    _agrees_with_the_reference(offset_timestamp_us, text, with_offset=True)


def _either_shape(text: str) -> int | None:
    """The reference for a fast path of both shapes: the "Z" one's instant, else the offset's."""
    utc = _reference(text, with_offset=False)
    return utc if utc is not None else _reference(text, with_offset=True)


@settings(max_examples=3000)
@given(st.one_of(_UTC_SHAPED, _OFFSET_SHAPED))
def test_character_fast_path_is_as_strict_as_the_regular_expression(text):
    # digits_timestamp_us is the compiled build's fast path (C characters and integers,
    # schemas/timestamps.pxd), run here as Python; tests/schemas/test_compiled_equals_source.py
    # holds the compiled one to this one.
    assume(not text.startswith("0000"))  # valid for us, before datetime's year 1
    fast = digits_timestamp_us(text)
    assert fast == _either_shape(text)
    if fast is not None:
        assert parse_timestamp_us(text) == fast


@pytest.mark.parametrize(
    "text",
    [
        "0000-01-01T00:00:00Z",  # the contract's first instant: C floor division of year -1
        "0000-02-29T23:59:59.999999999+23:59",  # year 0 is a leap year
        "0000-03-01T00:00:00-00:01",
        "9999-12-31T23:59:59.9999999-23:59",  # the last: 64-bit microseconds with room
        "1969-12-31T23:59:59.999999Z",  # day -1 and the microseconds before the epoch
        "2024-02-29T00:00:00Z",
        "2100-02-28T12:00:00+00:00",
        "2026-04-30T00:00:00.1Z",
        "2026-01-05T07:15:55.792756Z",
    ],
)
def test_the_character_fast_path_reads_the_calendar_s_ends_as_the_cached_one(text):
    """Years 0000 and 9999 too, which datetime (the reference above) cannot hold."""
    cached = utc_timestamp_us(text)
    if cached is None:
        cached = offset_timestamp_us(text)
    assert cached is not None
    assert digits_timestamp_us(text) == cached


def test_a_str_subclass_parses_as_its_text():
    """The compiled fast path takes a str exactly; parse_timestamp_us takes any str."""

    class Text(str):
        __slots__ = ()

    assert parse_timestamp_us(Text("2026-01-05T09:12:44+01:00")) == 1_767_600_764_000_000


@pytest.mark.parametrize(
    "text",
    ["0000-02-30T00:00:00Z", "2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-00-01T00:00:00Z",
     "2026-13-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
     "2026-01-01T00:00:60Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+00:60",
     "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00", "2026-01-01t00:00:00Z", "2026-01-01T00:00:00z",
     "2026-01-01 00:00:00Z", "2026-01-01T00:00:00.1_2Z", "2026-01-01T00:00:00+01:00Z"],
)  # fmt: skip
def test_the_character_fast_path_leaves_every_refusal_to_the_general_parser(text):
    """None: parse_timestamp_us then words the refusal as it always did."""
    assert digits_timestamp_us(text) is None
    with pytest.raises(ValueError):
        parse_timestamp_us(text)
