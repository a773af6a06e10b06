"""Visit to entry, the site's part: from an entry's visit date to its entry in the EDC.

The rule (docs/contract.md, "Visit to entry"). An entry's ``visit_date`` is a calendar
date, its ``entered_at`` an instant; the contract keeps no zone for the date, and
``entered_at`` reaches the engine as UTC microseconds (its offset is not kept). So:

* the visit starts at **00:00 UTC of its visit date** (V), and the visit to entry of an
  entry is ``entered_at − V``: one day is 86,400 s, an entry on its visit day takes
  0 to 1 day;
* an entry entered up to ``AHEAD_OF_UTC_US`` (14 h, the offset of the earliest zone,
  UTC+14) before V may have been entered on its visit date in a zone ahead of UTC: it
  counts **0**, never a negative value;
* an entry entered earlier still was entered before its visit date in every zone: it
  is left out of the distribution and counted as ``entered_before_visit``;
* an entry without a visit date is left out and counted as ``without_visit_date``.

Every entry event counts once (create, update or delete, as for the data latency: the
site's part of that entry's path from the visit to the dashboard); a duplicate event id
is dropped before it gets here. A value depends on its entry alone, so arrival order
never changes it, and nothing is ever corrected.

Thresholds: an entry is **over medium** when its visit to entry is *above*
``medium_us`` (5 days by default), **over high** above ``high_us`` (7 days); an entry
over high is over medium too. Exactly 5 days is not over medium.

State per study: one ``VisitGroup`` per breakdown group (cumulative tally and threshold
counts, which the live metrics export, and the retained values with their entry times,
which answer as of any T), and the left-out entries (cumulative counts per reason, and
the entry times of those entered before their visit). Retained parts are filed by hour
of entry time and forgotten with the retention (``prune``); the cumulative counts never
are. An entry without a visit date costs one increment and nothing kept (measured: keeping
its entry time cost ~0.5 µs an event, 13-20% of ``Engine.apply``, to producers that send
none): as of T, those are the study's entries entered by T less those measured or entered
before their visit (``visit_parts``), which is exact wherever nothing was pruned (the replay).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from heapq import heappush
from typing import Any, Generic, Protocol, TypeVar

from schemas.timestamps import US_PER_HOUR, day_start_us
from streams.config import EngineConfig, bounds_us
from streams.expiry import hour_heap, hours_before
from streams.latency import BUCKET_US, keys_entered_before
from streams.percentiles import nearest_rank
from streams.tally import Tally

T = TypeVar("T")

GroupKey = tuple[str, ...]


class EngineStudies(Protocol):
    """What ``visit_parts`` reads of an engine (``streams/engine.py``, which imports this
    module: a protocol, not the class, keeps imports one way)."""

    @property
    def config(self) -> EngineConfig: ...
    @property
    def studies(self) -> Mapping[str, Any]: ...

# A value is below 2**59 µs (18,000 years; from 0001-01-01 to 9999-12-31 is 10,000); an entry
# time may be negative (before 1970): ``entered << VALUE_BITS | value`` keeps both exactly.
VALUE_BITS = 59
VALUE_MASK = (1 << VALUE_BITS) - 1


def pack(entered_us: int, value_us: int) -> int:
    return entered_us << VALUE_BITS | value_us


# pack(t, t − start) == t * PACK_FACTOR − start while 0 ≤ t − start < 2**VALUE_BITS (the
# engine's hot path: one multiply where the shift, subtraction and or made three ints).
PACK_FACTOR = (1 << VALUE_BITS) + 1


# UTC+14 (Line Islands): the visit date begins there 14 h before it begins in UTC.
AHEAD_OF_UTC_US = 14 * US_PER_HOUR

WITHOUT_VISIT_DATE = "without_visit_date"
ENTERED_BEFORE_VISIT = "entered_before_visit"


def visit_to_entry_us(visit_date: str, entered_us: int) -> int | None:
    """The visit to entry of an entry in µs (module docstring); None: entered before its visit."""
    elapsed = entered_us - day_start_us(visit_date)
    if elapsed >= 0:
        return elapsed
    if elapsed >= -AHEAD_OF_UTC_US:
        return 0
    return None


class _FiledFirst(Generic[T]):
    """A figure of a ``VisitGroup`` kept in ``_<name>``, read or restored once the group's
    recent entries are filed and counted, so that no reader sees them uncounted."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, group: VisitGroup, owner: type | None = None) -> T:
        group.file()
        return getattr(group, self.slot)  # type: ignore[no-any-return]

    def __set__(self, group: VisitGroup, value: T) -> None:
        group.file()
        setattr(group, self.slot, value)


class VisitGroup:
    """One breakdown group's visit to entry: cumulative (the live series) and retained.

    Filed and counted when read: an entry only joins ``recent`` (``VisitLedger.add``: its
    time and value packed in one int, in arrival order). ``hours``, ``tally``,
    ``over_medium`` and ``over_high`` first file and count the recent entries, in arrival
    order, which gives what filing and counting each on arrival gave. Live reads them at
    each scrape, checkpoint and pruning; the replay never does (its report takes the values
    as of T, ``VisitLedger.values``, from both parts). Filing and counting each entry on
    arrival was ~65% of what a visit date cost ``Engine.apply`` (callgrind, the bench's
    input: 6.3k instructions an entry before, 2.2k now; BENCHMARKS.md).
    """

    __slots__ = ("_heap", "_hours", "_over_high", "_over_medium", "_tally", "high_us",
                 "medium_us", "recent")  # fmt: skip

    def __init__(self, bounds_us: tuple[int, ...], medium_us: int, high_us: int) -> None:
        self.medium_us = medium_us
        self.high_us = high_us
        self._tally = Tally(bounds_us)  # bucket counts, count and exact sum
        self._over_medium = 0
        self._over_high = 0
        # Hour of entry time -> each entry's time and value packed in one int (``pack``): one
        # list append (~25 ns) where two array appends cost ~160 (measured, bench A/B).
        self._hours: dict[int, list[int]] = {}
        self._heap: list[int] | None = None  # _hours' hours, for pruning (streams/expiry.py)
        self.recent: list[int] = []  # packed too, not filed nor counted yet

    @property
    def hours(self) -> dict[int, list[int]]:
        self.file()
        return self._hours

    # What a restore sets (state.py) and a reader reads: each files the recent entries first.
    tally: _FiledFirst[Tally] = _FiledFirst()
    over_medium: _FiledFirst[int] = _FiledFirst()
    over_high: _FiledFirst[int] = _FiledFirst()

    def file(self) -> None:
        """File the recent entries by hour and count them, in their arrival order."""
        recent = self.recent
        if not recent:
            return
        self.recent = []
        hours, tally = self._hours, self._tally
        bounds, counts = tally.bounds_us, tally.bucket_counts
        medium_us, high_us = self.medium_us, self.high_us
        total = over_medium = over_high = 0
        hour = filed = None
        for packed in recent:
            # A group's entries mostly come hour after hour: the hour's list is looked up
            # once per run.
            entered_hour = (packed >> VALUE_BITS) // US_PER_HOUR
            if entered_hour != hour:
                hour = entered_hour
                filed = hours.get(hour)
                if filed is None:
                    filed = hours[hour] = []
                    if self._heap is not None:
                        heappush(self._heap, hour)
            filed.append(packed)  # type: ignore[union-attr]
            value = packed & VALUE_MASK
            counts[bisect_left(bounds, value)] += 1
            total += value
            if value > medium_us:
                over_medium += 1
                if value > high_us:
                    over_high += 1
        tally.count += len(recent)
        tally.sum_us += total
        self._over_medium += over_medium
        self._over_high += over_high


    def forget_hours_before(self, limit_hour: int) -> None:
        """Forget the retained entries of the hours before ``limit_hour`` (filed first)."""
        hours = self.hours
        heap = self._heap
        if heap is None:
            heap = self._heap = hour_heap(hours)
        for hour in hours_before(heap, limit_hour, hours):
            del hours[hour]


class VisitLedger:
    """A study's visit to entry, per breakdown group, and its left-out entries."""

    __slots__ = ("before_heap", "before_hours", "before_visit", "bounds_us", "groups", "high_us",
                 "medium_us", "without_visit_date")  # fmt: skip

    def __init__(self, bounds_us: tuple[int, ...], medium_us: int, high_us: int) -> None:
        self.bounds_us = bounds_us
        self.medium_us = medium_us
        self.high_us = high_us
        self.groups: dict[GroupKey, VisitGroup] = {}
        self.without_visit_date = 0  # cumulative counts, per reason
        self.before_visit = 0
        # Hour of entry time -> entry times of the entries entered before their visit date.
        self.before_hours: dict[int, array[int]] = {}
        self.before_heap: list[int] | None = None  # its hours, for pruning (streams/expiry.py)

    def add(self, key: GroupKey, visit_date: str | None, entered_us: int) -> None:
        # Once per entry event: written out here, not called (~0.1 µs each); the filing by
        # hour and the counting wait for a reader (VisitGroup).
        if visit_date is None:
            self.without_visit_date += 1
            return
        start = VISIT_STARTS.get(visit_date)
        if start is None:
            start = _visit_start(visit_date)
        value = entered_us - start
        if value < 0:
            if value < -AHEAD_OF_UTC_US:  # visit_to_entry_us: before the visit date everywhere
                self.before_visit += 1
                hour = entered_us // US_PER_HOUR
                filed = self.before_hours.get(hour)
                if filed is None:
                    filed = self.before_hours[hour] = array("q")
                    if self.before_heap is not None:
                        heappush(self.before_heap, hour)
                filed.append(entered_us)
                return
            value = 0
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = VisitGroup(self.bounds_us, self.medium_us, self.high_us)
        group.recent.append(entered_us << VALUE_BITS | value)

    def prune(self, horizon_us: int) -> None:
        """Forget the retained parts of hours of entry time that end at or before the horizon
        (counted first: the cumulative counts keep them)."""
        # (h + 1) * US_PER_HOUR <= horizon_us, for whole hours h: h < horizon_us // US_PER_HOUR
        limit_hour = horizon_us // US_PER_HOUR
        heap = self.before_heap
        if heap is None:
            heap = self.before_heap = hour_heap(self.before_hours)
        for hour in hours_before(heap, limit_hour, self.before_hours):
            del self.before_hours[hour]
        for group in self.groups.values():
            group.forget_hours_before(limit_hour)

    def values(self, key: GroupKey, as_of_us: int) -> list[int]:
        """The retained values of a group's entries entered at or before T, in no set order."""
        group = self.groups.get(key)
        if group is None:
            return []
        out: list[int] = []
        last_hour = as_of_us // US_PER_HOUR  # hours before it were entered by T, whole
        for hour, filed in group._hours.items():  # filed or not (recent): no need to file
            if hour < last_hour:
                out += [p & VALUE_MASK for p in filed]
            else:
                out += [p & VALUE_MASK for p in filed if p >> VALUE_BITS <= as_of_us]
        out += [p & VALUE_MASK for p in group.recent if p >> VALUE_BITS <= as_of_us]
        return out

    def before_visit_by(self, as_of_us: int) -> int:
        """Retained entries entered before their visit date, entered by T."""
        return sum(sum(1 for t in filed if t <= as_of_us) for filed in self.before_hours.values())


# Visit date -> its midnight UTC in µs: trials have a few thousand visit days, and a dict hit
# is cheaper than a call. Bounded against hostile input as schemas.timestamps bounds its own.
VISIT_STARTS: dict[str, int] = {}
VISIT_STARTS_LIMIT = 100_000


def visit_ledger(config: EngineConfig) -> VisitLedger:
    """An empty visit-to-entry ledger at the configuration's bounds and thresholds."""
    return VisitLedger(
        bounds_us(config.visit_bounds_s), config.visit_medium_us, config.visit_high_us
    )


def _visit_start(visit_date: str) -> int:
    if len(VISIT_STARTS) >= VISIT_STARTS_LIMIT:
        VISIT_STARTS.clear()
    start = VISIT_STARTS[visit_date] = day_start_us(visit_date)
    return start


# -- figures as of T -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitFigures:
    """The visit to entry of some entries: nearest-rank percentiles, the exact mean (µs, rounded
    half up), and the entries over each threshold."""

    count: int = 0
    mean_us: int | None = None
    p50_us: int | None = None
    p95_us: int | None = None
    max_us: int | None = None
    over_medium: int = 0
    over_high: int = 0

    @classmethod
    def of(cls, values: Iterable[int], medium_us: int, high_us: int) -> VisitFigures:
        ordered = sorted(values)
        n = len(ordered)
        if not n:
            return cls()
        total = sum(ordered)
        return cls(
            count=n,
            mean_us=(2 * total + n) // (2 * n),
            p50_us=nearest_rank(ordered, 50),
            p95_us=nearest_rank(ordered, 95),
            max_us=ordered[-1],
            over_medium=n - bisect_left(ordered, medium_us + 1),
            over_high=n - bisect_left(ordered, high_us + 1),
        )


# (site, country, vendor): the grain of the report, merged into every scope.
Grain = tuple[str, str, str]


@dataclass(slots=True)
class StudyVisitParts:
    """One engine's raw visit figures of a study as of T: what engines fed disjoint shards add up."""

    values: dict[Grain, list[int]] = field(default_factory=dict)
    without_visit_date: int = 0
    entered_before_visit: int = 0

    def add(self, other: StudyVisitParts) -> None:
        for grain, values in other.values.items():
            self.values.setdefault(grain, []).extend(values)
        self.without_visit_date += other.without_visit_date
        self.entered_before_visit += other.entered_before_visit


VisitParts = dict[str, StudyVisitParts]


@dataclass(frozen=True, slots=True)
class StudyVisits:
    """A study's visit to entry as of T: over all its entries, by site, country and vendor, and by
    grain (site, country, vendor: the live series' labels), with the left-out counts."""

    all: VisitFigures
    by_dimension: dict[str, dict[str, VisitFigures]]
    by_grain: dict[Grain, VisitFigures]
    without_visit_date: int
    entered_before_visit: int


@dataclass(frozen=True, slots=True)
class VisitReport:
    medium_us: int
    high_us: int
    studies: dict[str, StudyVisits]


DIMENSIONS = ("site", "country", "vendor")
UNASSIGNED = "unassigned"  # an entry without a country (vendor), as streams/scorecards.py says


def visit_parts(engine: EngineStudies, as_of_us: int) -> VisitParts:
    """Raw figures per study and grain from an engine split by every dimension.

    Entries without a visit date, as of T: the study's retained entries entered by T (on
    its first dashboard: every entry is tracked on each) less those measured and those
    entered before their visit date.
    """
    breakdown = engine.config.breakdown
    missing = [d for d in DIMENSIONS if d not in breakdown]
    if missing:
        raise ValueError(f"visit figures by grain need the engine's breakdown to include {missing}")
    at = tuple(breakdown.index(d) for d in DIMENSIONS)
    out: VisitParts = {}
    for study_id, study in engine.studies.items():
        ledger = study.visits
        part = StudyVisitParts()
        measured = 0
        for key in ledger.groups:
            values = ledger.values(key, as_of_us)
            if values:
                measured += len(values)
                grain = (key[at[0]], key[at[1]] or UNASSIGNED, key[at[2]] or UNASSIGNED)
                part.values.setdefault(grain, []).extend(values)
        part.entered_before_visit = ledger.before_visit_by(as_of_us)
        entered = sum(_entered_by(group, as_of_us) for group in study.ledgers[0].groups.values())
        part.without_visit_date = entered - measured - part.entered_before_visit
        if part.values or part.without_visit_date or part.entered_before_visit:
            out[study_id] = part
    return out


def _entered_by(group: Any, as_of_us: int) -> int:
    """How many of a dashboard group's retained entries were entered by T: an hour bucket
    before T's by its size, T's own by its keys (streams/latency.py's layout)."""
    bound = keys_entered_before(as_of_us + 1)  # key < this: entered ≤ T
    last_bucket = as_of_us // BUCKET_US
    count = 0
    for buckets in (group.pending, group.published):
        for bucket, keys in buckets.items():
            if bucket < last_bucket:
                count += len(keys)
            elif bucket == last_bucket:
                count += sum(1 for key in keys if key < bound)
    return count


def merge_visit_parts(parts: Iterable[VisitParts]) -> VisitParts:
    out: VisitParts = {}
    for part in parts:
        for study_id, study in part.items():
            mine = out.get(study_id)
            if mine is None:
                mine = out[study_id] = StudyVisitParts()
            mine.add(study)
    return out


def visit_report(parts: VisitParts, medium_us: int, high_us: int) -> VisitReport:
    """Every scope's figures from the raw parts (lists merged before percentiles are taken)."""
    studies: dict[str, StudyVisits] = {}
    for study_id in sorted(parts):
        part = parts[study_id]
        by_dimension: dict[str, dict[str, list[int]]] = {d: {} for d in DIMENSIONS}
        every: list[int] = []
        for grain in sorted(part.values):
            values = part.values[grain]
            every.extend(values)
            for dimension, value in zip(DIMENSIONS, grain, strict=True):
                by_dimension[dimension].setdefault(value, []).extend(values)
        studies[study_id] = StudyVisits(
            all=VisitFigures.of(every, medium_us, high_us),
            by_dimension={
                dimension: {
                    value: VisitFigures.of(values[value], medium_us, high_us)
                    for value in sorted(values)
                }
                for dimension, values in by_dimension.items()
            },
            by_grain={
                grain: VisitFigures.of(part.values[grain], medium_us, high_us)
                for grain in sorted(part.values)
            },
            without_visit_date=part.without_visit_date,
            entered_before_visit=part.entered_before_visit,
        )
    return VisitReport(medium_us, high_us, studies)
