"""Freshness histories by hand (streams/freshness.py): what a compacted minute answers at its
last microsecond, publishes after T, and the uptime minutes of a window with no input
clock, a first entry before the window, and several good runs."""

from __future__ import annotations

from streams.freshness import MINUTE_US, FreshnessHistory, newest_at, verdicts
from tests.streams.strategies import BASE, HOUR, MINUTE

WINDOW = HOUR
WINDOW_MINUTES = WINDOW // MINUTE_US


def _history(*points: tuple[int, int]) -> FreshnessHistory:
    """Publishes at each instant, each showing data as new as its second value."""
    history = FreshnessHistory()
    for published, shown in points:
        history.published.add(published)
        history.note_shown(published, shown)
    return history


def test_a_publish_after_t_is_not_the_newest_and_shows_nothing_yet():
    history = _history((BASE + 10 * MINUTE, BASE), (BASE + 20 * MINUTE, BASE + 15 * MINUTE))
    assert newest_at(history, BASE + 10 * MINUTE - 1) == (None, None)
    assert newest_at(history, BASE + 10 * MINUTE) == (BASE + 10 * MINUTE, BASE)
    assert newest_at(history, BASE + 20 * MINUTE - 1) == (BASE + 10 * MINUTE, BASE)
    assert newest_at(history, BASE + 20 * MINUTE) == (BASE + 20 * MINUTE, BASE + 15 * MINUTE)


def test_a_compacted_minute_shows_its_data_from_its_last_microsecond():
    minute = BASE + 10 * MINUTE
    history = _history((minute + 10_000_000, minute - HOUR))
    history.compact(minute + MINUTE - 1)  # the clock at the minute's last microsecond
    assert not history.shown and history.shown_minutes  # folded into its minute
    assert newest_at(history, minute + MINUTE - 1) == (minute + 10_000_000, minute - HOUR)
    assert newest_at(history, minute + MINUTE - 2)[1] is None
    assert newest_at(history, minute + MINUTE) == (minute + 10_000_000, minute - HOUR)


def test_a_clock_one_microsecond_before_a_minute_ends_keeps_its_points_exact():
    minute = BASE + 10 * MINUTE
    history = _history((minute + 10_000_000, minute - HOUR))
    history.compact(minute + MINUTE - 2)
    assert history.shown == {minute + 10_000_000: minute - HOUR}
    assert newest_at(history, minute + 10_000_000) == (minute + 10_000_000, minute - HOUR)


def test_without_an_input_clock_every_minute_of_the_window_is_unknown():
    history = _history((BASE, BASE))
    t = BASE + 2 * HOUR
    assert verdicts(history, BASE, t, None, HOUR, HOUR, WINDOW) == (0, 0, WINDOW_MINUTES)
    # An input clock before the window: the same.
    assert verdicts(history, BASE, t, BASE, HOUR, HOUR, WINDOW) == (0, 0, WINDOW_MINUTES)


def test_a_first_entry_before_the_window_is_the_base_of_its_minutes():
    t = BASE + 2 * HOUR - 1  # the window: the minutes of the second hour
    empty = FreshnessHistory()
    # Nothing published: both freshnesses count from the first entry, 1 h before the window.
    good, bad, unknown = verdicts(empty, BASE, t, t, 90 * MINUTE, 90 * MINUTE, WINDOW)
    assert (good, bad, unknown) == (30, 30, 0)
    assert verdicts(empty, None, t, t, 90 * MINUTE, 90 * MINUTE, WINDOW) == (0, 0, 60)


def test_good_minutes_of_several_runs_add_up():
    t = BASE + HOUR - 1  # the window: the first hour's 60 minutes
    # Publishes showing fresh data at minutes 0, 20 and 40; each good for 10 minutes.
    history = _history(*((BASE + m * MINUTE, BASE + m * MINUTE) for m in (0, 20, 40)))
    assert verdicts(history, BASE, t, t, 10 * MINUTE, 10 * MINUTE, WINDOW) == (30, 30, 0)
    # Two publishes before the window, the later one iterated first or not: the newest counts.
    before = _history((BASE - 30 * MINUTE, BASE - 30 * MINUTE), (BASE - 50 * MINUTE, BASE - HOUR))
    assert verdicts(before, BASE - HOUR, t, t, 35 * MINUTE, 35 * MINUTE, WINDOW) == (5, 55, 0)
