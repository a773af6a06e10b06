"""Freshness of a dashboard, as two signals, and the data-integration uptime they give.

* **Publish freshness** as of T: T − the newest publish of the dashboard at or before T
  (since its first entry when nothing was published yet): ``edc_publish_silence_seconds``.
* **Data freshness** as of T: T − the newest data the dashboard shows as of T. That is the
  largest of the ``data_cutoff`` of every snapshot publish at or before T and the
  ``entered_at`` of every entry a record-level publish at or before T made visible (an
  entry of a named record, entered at or before that publish). A maximum: a publish that
  shows an old entry after a newer one was shown never takes it back, and a late-arriving,
  earlier publish (a correction, issue 26) can only make the data shown as of an instant
  newer, never older. Since the first entry when nothing is shown yet. A dashboard that
  republishes every hour with a stuck cutoff is fresh by the first signal and stale by
  this one.
* **Uptime**, per minute of event time [m·60 s, (m+1)·60 s): the minute is judged as of its
  last microsecond. It is *good* when publish freshness ≤ the publish threshold **and**
  data freshness ≤ the data threshold (a freshness equal to its threshold is good), *bad*
  otherwise, and *unknown* when no input has reached it yet (its last microsecond is after
  the input clock: the engine's ``deadline_clock``, the newest event time any input has
  reported) or there is nothing to judge yet (no entry and no publish of the dashboard at
  or before it, or publishes that showed nothing and no entry).

Both signals only step at publishes (and at the first entry), so a dashboard's history is
its publish times and, per publish instant, the newest data shown (``FreshnessHistory``):
exact as of any instant, independent of arrival order, and mergeable across shards
(``merge_histories``: each shard sees every snapshot publish and its own part of the
record publishes). A minute is judged at its end, so live, where every answer is as of
the clock or later, ``FreshnessHistory.compact`` keeps one point per minute the clock has
passed and one carried maximum for the minutes before the 30-day window: at most two ints
per minute of the window per dashboard, and far fewer for dashboards published hourly or
daily. The replay keeps every point (no retention), so its answers are exact as of any T.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.timestamps import US_PER_DAY, US_PER_MINUTE

MINUTE_US = US_PER_MINUTE
UPTIME_WINDOW_US = 30 * US_PER_DAY
UPTIME_WINDOW_MINUTES = UPTIME_WINDOW_US // MINUTE_US


class FreshnessHistory:
    """A dashboard's publish times and, per publish instant, the newest data shown: exact
    points, and (live, after ``compact``) one maximum per minute the clock has passed."""

    __slots__ = (
        "fold_at",
        "published",
        "published_before",
        "published_minutes",
        "shown",
        "shown_before",
        "shown_minutes",
    )

    def __init__(self) -> None:
        self.published: set[int] = set()  # publish times not compacted yet
        self.shown: dict[int, int] = {}  # publish instant -> newest data shown, not compacted
        # minute -> the newest publish in it / the newest data its publishes showed
        self.published_minutes: dict[int, int] = {}
        self.shown_minutes: dict[int, int] = {}
        self.published_before: int | None = None  # over the minutes folded away
        self.shown_before: int | None = None
        self.fold_at: int | None = None  # the window's first minute at the next fold

    def note_shown(self, published_us: int, shown_us: int) -> None:
        """A publish at ``published_us`` shows data as new as ``shown_us``."""
        if self.shown.get(published_us, shown_us - 1) < shown_us:
            self.shown[published_us] = shown_us

    def compact(self, clock_us: int, window_us: int = UPTIME_WINDOW_US) -> None:
        """Live only (answers as of T ≥ the clock stay exact, every minute being judged at
        its end): exact points of minutes wholly at or before the clock become their
        minute's maximum; once a day of clock, minutes before the window ending at the
        clock are folded into the carried maxima. Costs the points since the last call,
        and the window's minutes once a day."""
        done = (clock_us + 1) // MINUTE_US  # minutes before this one end at or before the clock
        minutes = self.published_minutes
        for published in [p for p in self.published if p // MINUTE_US < done]:
            self.published.discard(published)
            minute = published // MINUTE_US
            if minutes.get(minute, published - 1) < published:
                minutes[minute] = published
        minutes = self.shown_minutes
        for instant in [i for i in self.shown if i // MINUTE_US < done]:
            value = self.shown.pop(instant)
            minute = instant // MINUTE_US
            if minutes.get(minute, value - 1) < value:
                minutes[minute] = value
        first, _last = window_minutes(clock_us, window_us)
        if self.fold_at is not None and first < self.fold_at:
            return
        self.fold_at = first + US_PER_DAY // MINUTE_US
        for minute in [m for m in self.published_minutes if m < first]:
            self.published_before = _max(self.published_before, self.published_minutes.pop(minute))
        for minute in [m for m in self.shown_minutes if m < first]:
            self.shown_before = _max(self.shown_before, self.shown_minutes.pop(minute))

    def copy(self) -> FreshnessHistory:
        other = FreshnessHistory()
        other.published = set(self.published)
        other.shown = dict(self.shown)
        other.published_minutes = dict(self.published_minutes)
        other.shown_minutes = dict(self.shown_minutes)
        other.published_before = self.published_before
        other.shown_before = self.shown_before
        other.fold_at = self.fold_at
        return other


def _merge_max(target: dict[int, int], source: dict[int, int]) -> None:
    for key, value in source.items():
        if target.get(key, value - 1) < value:
            target[key] = value


def merge_histories(histories: Iterable[FreshnessHistory]) -> FreshnessHistory:
    """One history of several shards' (each saw its part of the record publishes)."""
    merged = FreshnessHistory()
    for history in histories:
        merged.published |= history.published
        _merge_max(merged.shown, history.shown)
        _merge_max(merged.published_minutes, history.published_minutes)
        _merge_max(merged.shown_minutes, history.shown_minutes)
        merged.published_before = _max(merged.published_before, history.published_before)
        merged.shown_before = _max(merged.shown_before, history.shown_before)
    return merged


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


@dataclass(frozen=True, slots=True)
class Freshness:
    """Both signals of one dashboard as of T, and its minutes of the window before T."""

    last_published_us: int | None  # newest publish at or before T
    newest_shown_us: int | None  # newest data shown as of T
    publish_freshness_us: int | None  # None: nothing published and no entry by T
    data_freshness_us: int | None  # None: nothing shown and no entry by T
    good: int = 0
    bad: int = 0
    unknown: int = 0

    @property
    def judged(self) -> int:
        return self.good + self.bad


def newest_at(history: FreshnessHistory, as_of_us: int) -> tuple[int | None, int | None]:
    """(newest publish, newest data shown) at or before T (a compacted minute counts once it
    has ended by T: exact for T at or after the clock that compacted it)."""
    published, shown = history.published_before, history.shown_before
    for value in history.published:
        if value <= as_of_us and (published is None or value > published):
            published = value
    for value in history.published_minutes.values():
        if value <= as_of_us and (published is None or value > published):
            published = value
    for instant, value in history.shown.items():
        if instant <= as_of_us and (shown is None or value > shown):
            shown = value
    for minute, value in history.shown_minutes.items():
        if (minute + 1) * MINUTE_US - 1 <= as_of_us and (shown is None or value > shown):
            shown = value
    return published, shown


def freshness(
    history: FreshnessHistory,
    first_entered_us: int | None,
    as_of_us: int,
    clock_us: int | None,
    publish_after_us: int,
    data_after_us: int,
    window_us: int = UPTIME_WINDOW_US,
) -> Freshness:
    """Both signals as of T, and the verdicts of the minutes of the window ending at T.

    ``clock_us``: the input clock (``Engine.deadline_clock``); minutes whose last
    microsecond is after min(T, clock) are unknown.
    """
    last_published, shown = newest_at(history, as_of_us)
    first = (
        first_entered_us if first_entered_us is not None and first_entered_us <= as_of_us else None
    )
    publish_base = last_published if last_published is not None else first
    data_base = shown if shown is not None else first
    good, bad, unknown = verdicts(
        history, first_entered_us, as_of_us, clock_us, publish_after_us, data_after_us, window_us
    )
    return Freshness(
        last_published,
        shown,
        None if publish_base is None else as_of_us - publish_base,
        None if data_base is None else as_of_us - data_base,
        good,
        bad,
        unknown,
    )


def window_minutes(as_of_us: int, window_us: int = UPTIME_WINDOW_US) -> tuple[int, int]:
    """(first, last) minute of the window ending at T: the minutes whose last microsecond
    is at or before T and after T − window."""
    last = (as_of_us + 1) // MINUTE_US - 1
    return last - window_us // MINUTE_US + 1, last


def verdicts(
    history: FreshnessHistory,
    first_entered_us: int | None,
    as_of_us: int,
    clock_us: int | None,
    publish_after_us: int,
    data_after_us: int,
    window_us: int = UPTIME_WINDOW_US,
) -> tuple[int, int, int]:
    """(good, bad, unknown) minutes of the window ending at T (module docstring).

    Between two minutes in which something changes (a publish, data shown, the first
    entry) both bases stay put and both freshnesses grow with the minute, so the good
    minutes of such a run are a prefix of it, found by division: O(changes · log).
    """
    first_minute, last_minute = window_minutes(as_of_us, window_us)
    reached = min(as_of_us, clock_us) if clock_us is not None else None
    known_last = -(1 << 62) if reached is None else (reached + 1) // MINUTE_US - 1
    top = min(last_minute, known_last)
    unknown = last_minute - max(top, first_minute - 1)
    if top < first_minute:
        return 0, 0, unknown
    published, shown = history.published_before, history.shown_before
    # The newest publish and the newest data shown per minute of the window.
    publishes: dict[int, int] = {}
    shows: dict[int, int] = {}
    points = [(value // MINUTE_US, value) for value in history.published]
    for minute, value in [*points, *history.published_minutes.items()]:
        if minute < first_minute:
            published = _max(published, value)
        elif minute <= top and publishes.get(minute, value - 1) < value:
            publishes[minute] = value
    points = [(instant // MINUTE_US, value) for instant, value in history.shown.items()]
    for minute, value in [*points, *history.shown_minutes.items()]:
        if minute < first_minute:
            shown = _max(shown, value)
        elif minute <= top and shows.get(minute, value - 1) < value:
            shows[minute] = value
    changes = dict.fromkeys(publishes)
    changes.update(dict.fromkeys(shows))
    first = None
    if first_entered_us is not None:
        entered_minute = first_entered_us // MINUTE_US
        if entered_minute < first_minute:
            first = first_entered_us
        elif entered_minute <= top:
            changes[entered_minute] = None
    starts = sorted(changes)
    if not starts or starts[0] != first_minute:
        starts.insert(0, first_minute)
    good = bad = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else top
        published = _max(published, publishes.get(start))
        shown = _max(shown, shows.get(start))
        if (
            first is None
            and first_entered_us is not None
            and first_entered_us // MINUTE_US <= start
        ):
            first = first_entered_us
        publish_base = published if published is not None else first
        data_base = shown if shown is not None else first
        length = end - start + 1
        if publish_base is None or data_base is None:
            unknown += length
            continue
        # Good while (m + 1)·60 s − 1 µs ≤ min(publish base + P, data base + D).
        limit = min(publish_base + publish_after_us, data_base + data_after_us)
        last_good = (limit + 1) // MINUTE_US - 1
        run = max(0, min(end, last_good) - start + 1)
        good += run
        bad += length - run
    return good, bad, unknown


__all__ = [
    "MINUTE_US",
    "UPTIME_WINDOW_MINUTES",
    "UPTIME_WINDOW_US",
    "Freshness",
    "FreshnessHistory",
    "freshness",
    "merge_histories",
    "newest_at",
    "verdicts",
    "window_minutes",
]
