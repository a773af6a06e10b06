"""Publish schedules: when a dashboard's next publish is expected, and whether one was missed.

Pure: every instant is a parameter (µs since the epoch, UTC). Calendar schedules use
``zoneinfo`` for every conversion between wall time and instants; nothing here adds
or subtracts UTC offsets by hand.

A schedule yields *slots*, the instants publishes are expected at. As of T, with
``last`` the newest publish at or before T (or, before any publish, the dashboard's
first entry) and ``grace`` a setting:

* the **due** slot is the first slot after ``last`` (``> last``);
* it is **missed** when ``due + grace < T`` (a publish up to ``grace`` late is on time;
  at ``T = due + grace`` exactly it is not missed yet);
* the **next expected publish** is the first slot after both ``last`` and ``T``
  (``> max(last, T)``): never in the past. Once a slot's instant is reached without its
  publish (as of T includes T), the schedule no longer promises anything before the
  following slot: a late run is as much an unscheduled publish as an off-cycle one, so
  the certain breaches are counted against the following slot from ``T = due`` on. The
  grace only decides the miss (a ticket), never the next publish: the certain breaches
  neither read 0 while the due publish is late nor jump when its grace runs out.

Calendar slots (``WeeklySchedule``): on each listed weekday, at each listed local time of
the zone, the slot is the **first instant whose wall-clock reading on that date is at
or after the time** (a cron-like rule). So a time skipped by a spring-forward change
happens at the change (02:30 in Europe/Berlin on the last Sunday of March: 03:00 CEST),
and a time that occurs twice at an autumn change happens at its first occurrence.

Learned cadence (``learned_cadence``), for a dashboard without a configured schedule:
of its newest ``CADENCE_HISTORY`` distinct publish instants, a *run* starts at each one
more than ``min_gap`` after the one before it (publishes closer together are one
publish, split in parts); with at least ``MIN_GAPS`` gaps between run starts, the
cadence is the lower median of the newest ``MAX_GAPS`` of them, and the slots are the
newest run start plus whole multiples of it. Fewer runs: no cadence, no expectation.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

US_PER_SECOND = 1_000_000
# Publish instants a dashboard keeps for its learned cadence (its state: bounded).
CADENCE_HISTORY = 32
MIN_GAPS = 3  # gaps between run starts needed before a cadence is trusted
MAX_GAPS = 8  # the newest gaps the median is taken over: a changed cadence is learned soon
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A weekly calendar with any slot has one within 8 days; searched a little past it.
_SEARCH_DAYS = 9


def _instant_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def _moment(instant_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=instant_us)


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    """A publish every ``every_us``, at ``anchor_us + k·every_us`` (by default from the epoch:
    every 6 h is at 00:00, 06:00, 12:00, 18:00 UTC)."""

    every_us: int
    anchor_us: int = 0

    def __post_init__(self) -> None:
        if self.every_us <= 0:
            raise ValueError("a publish interval must be positive")

    def first_slot_from(self, instant_us: int) -> int:
        """The first slot at or after the instant."""
        steps = -((self.anchor_us - instant_us) // self.every_us)  # ceiling division
        return self.anchor_us + steps * self.every_us


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Local times on some weekdays in one IANA zone (e.g. 02:00 Europe/Berlin, Mon–Fri)."""

    times: tuple[time, ...]
    zone: str
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0

    def __post_init__(self) -> None:
        if not self.times or not self.weekdays:
            raise ValueError("a weekly schedule needs at least one time and one weekday")
        if any(not 0 <= day <= 6 for day in self.weekdays):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        ZoneInfo(self.zone)  # an unknown zone is refused here, not at the first question

    def slot_on(self, day: date, at: time) -> int:
        """The first instant whose wall-clock reading on ``day`` is at or after ``at``."""
        zone = ZoneInfo(self.zone)
        wall = datetime.combine(day, at)
        first = wall.replace(tzinfo=zone, fold=0)
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
            return _instant_us(first.astimezone(UTC))  # exists; fold=0 is its first occurrence
        # Skipped by a change: the readings jump over it. The change lies between the two
        # instants zoneinfo gives for the reading (fold=1 uses the offset after the
        # change: earlier); find the first one reading at or after it by bisection.
        low = _instant_us(wall.replace(tzinfo=zone, fold=1).astimezone(UTC))
        high = _instant_us(first.astimezone(UTC))
        low, high = min(low, high), max(low, high)
        while low < high:
            middle = (low + high) // 2
            if _moment(middle).astimezone(zone).replace(tzinfo=None) >= wall:
                high = middle
            else:
                low = middle + 1
        return low

    def first_slot_from(self, instant_us: int) -> int:
        """The first slot at or after the instant."""
        zone = ZoneInfo(self.zone)
        today = _moment(instant_us).astimezone(zone).date()
        for offset in range(-1, _SEARCH_DAYS):  # a slot of yesterday's date may still lie ahead
            day = today + timedelta(days=offset)
            if day.weekday() not in self.weekdays:
                continue
            slots = sorted(self.slot_on(day, at) for at in self.times)
            i = bisect_left(slots, instant_us)
            if i < len(slots):
                return slots[i]
        raise AssertionError("a weekly schedule always has a slot within nine days")


@dataclass(frozen=True, slots=True)
class LearnedCadence:
    """Slots at ``anchor_us + k·every_us`` for k ≥ 1 (learned from the publishes)."""

    every_us: int
    anchor_us: int

    def first_slot_from(self, instant_us: int) -> int:
        if instant_us <= self.anchor_us:
            return self.anchor_us + self.every_us
        steps = -((self.anchor_us - instant_us) // self.every_us)
        return self.anchor_us + steps * self.every_us


Schedule = IntervalSchedule | WeeklySchedule | LearnedCadence


def learned_cadence(publishes_us: list[int], min_gap_us: int) -> LearnedCadence | None:
    """The cadence of ascending, distinct publish instants (the rule: module docstring)."""
    recent = publishes_us[-CADENCE_HISTORY:]
    starts = [
        instant
        for i, instant in enumerate(recent)
        if i == 0 or instant - recent[i - 1] > min_gap_us
    ]
    gaps = [b - a for a, b in pairwise(starts)][-MAX_GAPS:]
    if len(gaps) < MIN_GAPS:
        return None
    return LearnedCadence(sorted(gaps)[(len(gaps) - 1) // 2], starts[-1])


@dataclass(frozen=True, slots=True)
class Outlook:
    """What a dashboard's schedule says as of T."""

    next_publish_us: int  # the first slot after the last publish and after T
    due_us: int  # the first slot after the last publish (before T when it is late)
    missed: bool  # due + grace < T
    learned: bool  # the schedule is a learned cadence


def outlook(schedule: Schedule, last_us: int, as_of_us: int, grace_us: int) -> Outlook:
    """``last_us``: the newest publish at or before T (before any, the first entry)."""
    due = schedule.first_slot_from(last_us + 1)
    following = due if due > as_of_us else schedule.first_slot_from(as_of_us + 1)
    return Outlook(following, due, due + grace_us < as_of_us, isinstance(schedule, LearnedCadence))
