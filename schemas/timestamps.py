"""RFC 3339 timestamps <-> integer microseconds since the Unix epoch (UTC).

Every time inside the monitor is an ``int`` of microseconds: exact, hashable,
cheap to compare, and free of floating-point drift when durations are summed.
Parsing is strict because an audit system must not guess: a timestamp without
an explicit offset is rejected, as is an impossible date. Digits beyond the
microsecond are truncated (Kafka producers rarely emit them; we never round up
into the next second).
"""

from __future__ import annotations

import re

try:
    import cython
except ImportError:  # no Cython: this module runs interpreted (setup.py did not compile it)
    _COMPILED = False
else:
    # True only in the extension setup.py builds, where schemas/timestamps.pxd types the
    # character-level fast path (digits_timestamp_us).
    _COMPILED = cython.compiled

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR

# re.ASCII: \d must not match other scripts' digits (int() would happily read "２０２６").
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))?\Z",
    re.ASCII,
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z", re.ASCII)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _check_date(year: int, month: int, day: int) -> None:
    if not 1 <= month <= 12:
        raise ValueError("impossible date: no such month")
    last = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= last:
        raise ValueError("impossible date: no such day in that month")


def _days_from_civil(year: int, month: int, day: int) -> int:
    # Howard Hinnant's days_from_civil: proleptic Gregorian, day 0 = 1970-01-01.
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


# Validated "YYYY-MM-DD" -> epoch µs of its midnight. Replayed events share a handful
# of days, so after a warm-up the date costs one dict hit; keys are validated before
# they are stored, so a hit is as strict as the regular expression.
_DAY_US: dict[str, int] = {}
# The same dict under a public name: an entry's visit date seen before is one look-up
# (events.py), where is_calendar_date's call cost more than the look-up.
VALID_DAYS = _DAY_US
_DAY_CACHE_LIMIT = 100_000  # bounds memory on hostile input; the live worker runs for months
# Validated "YYYY-MM-DDThh" -> epoch µs of that hour: one slice and one look-up for the
# date and the hour (an audit of 95 days has ~2,300 of them), where a look-up each cost
# ~0.16 µs more a timestamp compiled (656 -> 497 ns, 200k timestamps of the realistic mix).
_HOUR_US: dict[str, int] = {}
# "00".."99": the clock's fields. A tiny table stays in the CPU cache; a table of all
# 86,400 "hh:mm:ss" did not, and its misses cost as much as orjson.loads (py-spy, 1M lines).
_TWO_DIGITS = {f"{n:02d}": n for n in range(100)}
_ZERO = ord("0")


def _day_us(text: str) -> int | None:
    match = _DATE.match(text)
    if match is None:
        return None
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    try:
        _check_date(year, month, day)
    except ValueError:
        return None
    if len(_DAY_US) >= _DAY_CACHE_LIMIT:
        _DAY_US.clear()
    value = _DAY_US[text] = _days_from_civil(year, month, day) * US_PER_DAY
    return value


def day_start_us(text: str) -> int:
    """Epoch µs of 00:00 UTC of a "YYYY-MM-DD" that ``is_calendar_date`` accepted (an
    entry's ``visit_date``); ValueError for any other text."""
    value = _DAY_US.get(text)
    if value is None:
        value = _day_us(text)
        if value is None:
            raise ValueError("not a calendar date")
    return value


def is_calendar_date(text: str) -> bool:
    """``check_calendar_date`` without the exception, for the hot path."""
    return text in _DAY_US or _day_us(text) is not None


def utc_timestamp_us(text: str) -> int | None:
    """The common shape ``YYYY-MM-DDThh:mm:ss[.f…]Z`` in epoch microseconds, else ``None``.

    ``None`` means "not this shape, or invalid": ``parse_timestamp_us`` then decides and
    gives the reason. Never raises, so the hot path needs no ``try``.
    """
    length = len(text)
    if length == 27 and text[26] == "Z" and text[19] == "." and text[10] == "T":
        # The simulator's and most producers' shape: microseconds, Z. Checked first.
        fraction = text[20:26]
        # isdigit() alone would accept "²"; int() alone would accept "1_0" and " 1".
        if not (fraction.isascii() and fraction.isdigit()):
            return None
        micros = int(fraction)
    elif length == 20:
        # The date and clock are checked below.
        if text[19] != "Z" or text[10] != "T":
            return None
        micros = 0
    elif length > 21:
        if text[-1] != "Z" or text[19] != "." or text[10] != "T":
            return None
        fraction = text[20:-1]
        if not (fraction.isascii() and fraction.isdigit()):
            return None
        # Truncated, never rounded: a fraction must not roll into the next second.
        micros = int(fraction[:6].ljust(6, "0"))
    else:
        return None
    hour = _HOUR_US.get(text[:13])
    if hour is None:
        hour = _hour_us(text[:13])
        if hour is None:
            return None
    if text[13] != ":" or text[16] != ":":
        return None
    # Minutes and seconds digit by digit: ord() of a one-character string allocates
    # nothing, where a slice and its look-up did. Any other character (a letter, "²",
    # another script's digit) falls outside the ranges.
    zero = _ZERO
    m_tens, m_ones = ord(text[14]) - zero, ord(text[15]) - zero
    s_tens, s_ones = ord(text[17]) - zero, ord(text[18]) - zero
    if not (0 <= m_tens <= 5 and 0 <= m_ones <= 9 and 0 <= s_tens <= 5 and 0 <= s_ones <= 9):
        return None
    clock = (m_tens * 10 + m_ones) * 60 + s_tens * 10 + s_ones
    return hour + clock * US_PER_SECOND + micros


def _hour_us(text: str) -> int | None:
    """Epoch µs of a "YYYY-MM-DDThh" (cached once valid), else None."""
    if text[10:11] != "T":
        return None
    day = _DAY_US.get(text[:10])
    if day is None:
        day = _day_us(text[:10])
        if day is None:
            return None
    hour = _TWO_DIGITS.get(text[11:13])
    if hour is None or hour > 23:
        return None
    if len(_HOUR_US) >= _DAY_CACHE_LIMIT:
        _HOUR_US.clear()
    value = _HOUR_US[text] = day + hour * US_PER_HOUR
    return value


def offset_timestamp_us(text: str) -> int | None:
    """The shape ``YYYY-MM-DDThh:mm:ss[.f…]±hh:mm`` in epoch microseconds, else ``None``.

    As ``utc_timestamp_us`` with an offset for the ``Z``: the same local date-time
    checks (the text before the offset, with a ``Z``), then the offset's own (hours at
    most 23, minutes at most 59). ``None`` leaves the decision and the reason to
    ``parse_timestamp_us``'s regular expression. Never raises.
    """
    if len(text) < 25 or text[-3] != ":":
        return None
    sign = text[-6]
    if sign != "+" and sign != "-":
        return None
    two_digits = _TWO_DIGITS
    hours = two_digits.get(text[-5:-3])
    minutes = two_digits.get(text[-2:])
    if hours is None or minutes is None or hours > 23 or minutes > 59:
        return None
    local = utc_timestamp_us(text[:-6] + "Z")
    if local is None:
        return None
    offset = (hours * 60 + minutes) * US_PER_MINUTE
    return local - offset if sign == "+" else local + offset


# The compiled module's fast path: the same shapes read character by character, with C
# integers and C characters (schemas/timestamps.pxd types these three functions and the
# calendar's two above). No slice, no look-up, no Python int until the result: ~0.54 µs a
# timestamp became ~0.15, its Python call included (BENCHMARKS.md, "Timestamps in C").
# Compiled, ``chars`` is the text's own ASCII buffer, a ``const char *`` (setup.py's
# ``c_string_encoding`` lets Cython take it from a ``str`` without a copy): a character is
# one byte read, where indexing the ``str`` checked its bounds and its kind each time. Only
# an ASCII text can be a timestamp (every character is a digit, a separator, "Z" or a
# sign), so any other is refused before. Every index read is below the length checked.
# Interpreted, the cached path above is the faster one (1.2 µs against 5.6), so each build
# uses its own; the equality properties hold them to the same answers.
def _digit(chars: str, index: int) -> int:
    """The ASCII digit at ``index`` as its value, else -1 (a letter, "²", another
    script's digit: the regular expression's ``\\d`` is ASCII only)."""
    value = ord(chars[index]) - ord("0")
    return value if 0 <= value <= 9 else -1


def _two_digits(chars: str, index: int) -> int:
    """The two ASCII digits at ``index`` as 0..99, else -1."""
    tens = _digit(chars, index)
    ones = _digit(chars, index + 1)
    return -1 if tens < 0 or ones < 0 else tens * 10 + ones


def digits_timestamp_us(text: str) -> int | None:
    """``YYYY-MM-DDThh:mm:ss[.f…]`` then ``Z`` or ``±hh:mm``, in epoch microseconds, else None.

    What ``utc_timestamp_us`` and ``offset_timestamp_us`` accept, without their caches:
    ``None`` leaves the decision and the reason to ``parse_timestamp_us``. Never raises.
    """
    length = len(text)
    if length < 20 or not text.isascii():
        return None
    chars = text  # compiled: the ASCII buffer (above)
    if (
        ord(chars[4]) != ord("-")
        or ord(chars[7]) != ord("-")
        or ord(chars[10]) != ord("T")
        or ord(chars[13]) != ord(":")
        or ord(chars[16]) != ord(":")
    ):
        return None
    century = _two_digits(chars, 0)
    years = _two_digits(chars, 2)
    month = _two_digits(chars, 5)
    day = _two_digits(chars, 8)
    hour = _two_digits(chars, 11)
    minute = _two_digits(chars, 14)
    second = _two_digits(chars, 17)
    if century < 0 or years < 0 or not (1 <= month <= 12 and day >= 1):
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59):
        return None
    year = century * 100 + years
    # 31 days in Jan, Mar, May, Jul, Aug, Oct, Dec: without a table, a Python object here.
    last = (29 if _is_leap(year) else 28) if month == 2 else 30 + ((month + month // 8) & 1)
    if day > last:
        return None
    index = 19
    micros = 0
    if ord(chars[19]) == ord("."):
        # Truncated, never rounded: digits past the sixth only have to be digits.
        index = 20
        scale = 100_000
        while index < length:
            digit = _digit(chars, index)
            if digit < 0:
                break
            micros += digit * scale
            scale //= 10
            index += 1
        if index == 20:
            return None
    suffix = length - index
    if suffix == 1 and ord(chars[index]) == ord("Z"):
        offset_s = 0
    elif suffix == 6 and ord(chars[index + 3]) == ord(":"):
        sign = ord(chars[index])
        off_h = _two_digits(chars, index + 1)
        off_m = _two_digits(chars, index + 4)
        if not (0 <= off_h <= 23 and 0 <= off_m <= 59):
            return None
        if sign == ord("+"):
            offset_s = off_h * 3600 + off_m * 60
        elif sign == ord("-"):
            offset_s = -(off_h * 3600 + off_m * 60)
        else:
            return None
    else:
        return None
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    # The literal, not US_PER_SECOND: a module global is a Python int to the compiler.
    return (seconds - offset_s) * 1_000_000 + micros


# Each build's fast path for a caller that words its own refusal (events.document_hook):
# the compiled module's covers both offsets' shapes, the interpreted one's only "Z". Takes
# a str, exactly: the compiled one raises TypeError for a subclass (the hook checks first).
common_timestamp_us = digits_timestamp_us if _COMPILED else utc_timestamp_us


def parse_timestamp_us(text: str) -> int:
    """Parse an RFC 3339 date-time with an explicit offset into epoch microseconds.

    Raises ``ValueError`` with a short reason (no field name: the caller adds it).
    """
    if _COMPILED and text.__class__ is str:  # typed as str: Cython refuses a subclass
        fast = digits_timestamp_us(text)
        if fast is not None:
            return fast
    else:
        fast = utc_timestamp_us(text)
        if fast is not None:
            return fast
        fast = offset_timestamp_us(text)
        if fast is not None:
            return fast
    return general_timestamp_us(text)


def general_timestamp_us(text: str) -> int:
    """``parse_timestamp_us`` by the contract's regular expression alone: the rule the fast
    paths above must equal (the properties hold them to it), and the words of every refusal.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError("not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm))")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction, zulu, sign, off_h, off_m = match.group(7, 8, 9, 10, 11)
    if zulu is None and sign is None:
        raise ValueError("timestamp has no UTC offset (add Z or ±hh:mm)")
    _check_date(year, month, day)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("impossible time of day")
    offset_s = 0
    if sign is not None:
        oh, om = int(off_h), int(off_m)
        if oh > 23 or om > 59:
            raise ValueError("impossible UTC offset")
        offset_s = (oh * 3600 + om * 60) * (1 if sign == "+" else -1)
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return (seconds - offset_s) * US_PER_SECOND + micros


def check_calendar_date(text: str) -> str:
    """Validate a ``YYYY-MM-DD`` calendar date; return it unchanged."""
    match = _DATE.match(text)
    if match is None:
        raise ValueError("not a YYYY-MM-DD date")
    _check_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    return text


def format_timestamp(us: int) -> str:
    """Format epoch microseconds as RFC 3339 UTC with ``Z``.

    Deterministic: whole seconds have no fraction, whole milliseconds three digits,
    anything finer six digits.
    """
    seconds, micros = divmod(us, US_PER_SECOND)
    days, rest = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    base = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if micros == 0:
        return base + "Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"


# The text of each second of an hour ("mm:ss") and of each three digits of a fraction:
# TimestampFormatter writes a time from these without a format spec.
_HOUR_CLOCKS = tuple(f"{second // 60:02d}:{second % 60:02d}" for second in range(3600))
_THREE_DIGITS = tuple(f"{part:03d}" for part in range(1000))


class TimestampFormatter:
    """``format_timestamp`` with each hour's text cached, for writing many rows.

    A replay formats two timestamps per CSV row; its rows share few hours (a year is
    8,760). The rest comes from tables: an hour's 3,600 clocks and a fraction's
    thousands, so a call is two divisions by literals, a look-up and one f-string.
    Format specs (``:02d``, ``:06d``) cost ~0.2 µs each: with a date and a clock
    cached per second, a call cost ~0.5 µs and was 40% of queries.csv.
    One instance per file written: the cache grows with the input.
    """

    __slots__ = ("_hours",)

    def __init__(self) -> None:
        self._hours: dict[int, str] = {}  # hour number -> "YYYY-MM-DDThh:"

    def __call__(self, us: int) -> str:
        # Divisions by literals below 2**30: compiled, Cython divides in C with Python's
        # floor rule (a divisor of two 30-bit digits goes through CPython's long division).
        seconds = us // 1_000_000
        micros = us - seconds * 1_000_000
        hour = seconds // 3600
        hour_text = self._hours.get(hour)
        if hour_text is None:
            full = format_timestamp(hour * US_PER_HOUR)
            hour_text = self._hours[hour] = full[: full.index("T") + 4]
        clock = _HOUR_CLOCKS[seconds - hour * 3600]
        if micros == 0:
            return f"{hour_text}{clock}Z"
        ms = micros // 1000
        rest = micros - ms * 1000
        if rest == 0:
            return f"{hour_text}{clock}.{_THREE_DIGITS[ms]}Z"
        return f"{hour_text}{clock}.{_THREE_DIGITS[ms]}{_THREE_DIGITS[rest]}Z"


def seconds_ms(us: int) -> float:
    """A duration in microseconds as seconds rounded to milliseconds (half away from zero)."""
    sign = -1 if us < 0 else 1
    ms = (abs(us) + 500) // 1000
    return sign * ms / 1000
