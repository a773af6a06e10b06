"""A naive restatement of time to breach and publish schedules, to check the engine against.

Written from docs/design.md ("What will breach next"), not from streams/: every
slot found by walking the calendar minute by minute or the interval step by step,
every figure recounted from all events for the instant asked.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas import EntryEvent, Event, PublishEvent
from tests.streams.boundaries import (
    certain_breach as is_certain_breach,
)
from tests.streams.boundaries import (
    exists_as_of,
    run_start,
    slot_ahead,
    slot_missed,
    time_left_bucket,
)
from tests.streams.brute_force import dedupe, first_publish

MINUTE = 60_000_000
HISTORY = 32  # publish instants a dashboard's learned cadence looks at
MIN_GAPS, MAX_GAPS = 3, 8


def interval_slots(every_us: int, anchor_us: int, start_us: int, stop_us: int) -> list[int]:
    """Every slot anchor + k·every in [start, stop], by walking from below the start."""
    slot = anchor_us
    while slot > start_us:
        slot -= every_us
    while slot < start_us:
        slot += every_us
    out = []
    while slot <= stop_us:
        out.append(slot)
        slot += every_us
    return out


def weekly_slots(
    times: list[tuple[int, int]], zone: str, weekdays: tuple[int, ...], start_us: int, stop_us: int
) -> list[int]:
    """Every slot in [start, stop]: per local date and time, the first whole minute whose
    wall-clock reading on that date is at or after the time (minutes: zone changes and the
    configured times fall on whole minutes)."""
    tz = ZoneInfo(zone)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    minute = (start_us - 2 * 86_400_000_000) // MINUTE * MINUTE
    first_of: dict[tuple[object, tuple[int, int]], int] = {}
    while minute <= stop_us + 86_400_000_000:
        wall = (epoch + timedelta(microseconds=minute)).astimezone(tz)
        if wall.weekday() in weekdays:
            for at in times:
                if (wall.hour, wall.minute) >= at:
                    first_of.setdefault((wall.date(), at), minute)
        minute += MINUTE
    return sorted({s for s in first_of.values() if start_us <= s <= stop_us})


def learned(publishes_us: list[int], min_gap_us: int) -> tuple[int, int] | None:
    """(every, anchor) of the learned cadence of ascending distinct publish instants."""
    recent = publishes_us[-HISTORY:]
    starts = []
    for i, instant in enumerate(recent):
        if run_start(instant, recent[i - 1] if i else None, min_gap_us):
            starts.append(instant)
    gaps = [starts[i + 1] - starts[i] for i in range(len(starts) - 1)][-MAX_GAPS:]
    if len(gaps) < MIN_GAPS:
        return None
    return statistics.median_low(gaps), starts[-1]


def schedule_view(
    slots: list[int], last_us: int, as_of_us: int, grace_us: int
) -> dict[str, object]:
    """Due, missed and next expected, from an ascending list of slots that reaches past
    both ``last`` and ``T``."""
    due = min(s for s in slots if s > last_us)
    following = min(s for s in slots if slot_ahead(s, last_us, as_of_us))
    return {"next": following, "due": due, "missed": slot_missed(due, as_of_us, grace_us)}


def dashboard_at_risk(
    arrivals: list[Event],
    study: str,
    dashboard: str,
    sla_us: int,
    schedule: object,
    as_of_us: int,
    edges_us: tuple[int, ...],
    grace_us: int,
    min_gap_us: int,
) -> dict[str, object]:
    """``schedule``: ("interval", every, anchor), ("weekly", times, zone, weekdays) or None."""
    events = dedupe(arrivals)
    entries = [
        e
        for e in events
        if isinstance(e, EntryEvent)
        and e.study_id == study
        and exists_as_of(e.entered_at, as_of_us)
    ]
    publishes = [p for p in events if isinstance(p, PublishEvent) and p.study_id == study]
    pending = [
        e.entered_at for e in entries if first_publish(e, publishes, dashboard, as_of_us) is None
    ]
    instants = sorted(
        {
            p.published_at
            for p in publishes
            if p.dashboard == dashboard and exists_as_of(p.published_at, as_of_us)
        }
    )
    last = instants[-1] if instants else min((e.entered_at for e in entries), default=None)
    view = None
    if last is not None:
        horizon = max(last, as_of_us) + 30 * 86_400_000_000
        if schedule is None:
            cadence = learned(instants, min_gap_us)
            if cadence is not None:
                every, anchor = cadence
                slots = [anchor + k * every for k in range(1, (horizon - anchor) // every + 2)]
                view = {**schedule_view(slots, last, as_of_us, grace_us), "learned": True}
        else:
            low = min(last, as_of_us) - 86_400_000_000
            if schedule[0] == "interval":
                slots = interval_slots(schedule[1], schedule[2], low, horizon)
            else:
                # A weekly calendar has a slot within 8 days of any instant: two windows hold
                # the first slot after the last publish and the first one after T.
                day = 86_400_000_000
                slots = sorted(
                    {
                        *weekly_slots(
                            schedule[1], schedule[2], schedule[3], last - day, last + 9 * day
                        ),
                        *weekly_slots(
                            schedule[1],
                            schedule[2],
                            schedule[3],
                            as_of_us - day,
                            as_of_us + 9 * day,
                        ),
                    }
                )
            view = {**schedule_view(slots, last, as_of_us, grace_us), "learned": False}
    buckets = [0] * (len(edges_us) + 2)
    for entered in pending:
        buckets[time_left_bucket(entered, as_of_us, sla_us, edges_us)] += 1
    upcoming = [e + sla_us for e in pending if e + sla_us >= as_of_us]
    certain = None
    if view is not None:
        certain = sum(1 for e in pending if is_certain_breach(e, as_of_us, sla_us, view["next"]))
    return {
        "by_time_left": tuple(buckets),
        "earliest_deadline": min(upcoming, default=None),
        "certain_breaches": certain,
        "schedule": view,
    }
