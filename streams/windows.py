"""Tumbling windows over event time, computed in one sweep per study and dashboard.

Contract, version 1: windows of a fixed size (default one day, aligned to UTC
midnight) from the window holding the earliest event time (≤ T), or the start of
the audited period when given, to the one holding T, which is marked incomplete.
Per window and study: the latency figures of entries whose earliest covering
publish falls inside the window, and the entries over SLA whose deadline passed
inside it (at the first instant after entered + SLA: a breach is counted when it
happens, once, as the live counter does); backlog and open queries as at the window's end,
or T if earlier ("as at" includes that instant, as every "as of" does).

Rather than asking the engine for a snapshot per window (windows × entries),
each entry is pending over the interval [entered, published) and overdue over
(entered + SLA, published): a difference array over the sorted window instants
counts both, and a heap finds the oldest pending entry at each instant. Open
queries the same way, per state and aging bucket (``_query_windows``): time is
swept once, never every query for every window.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from streams.engine import Engine
from streams.figures import BacklogFigures, QueryFigures, StudyFigures
from streams.latency import BUCKET_US, ENTERED_SHIFT, GroupLedger, overdue_from
from streams.parts import StudyPart, merge_study
from streams.queries import (
    AGING_LIMITS_US,
    AWAITING_DM,
    AWAITING_SITE,
    Changes,
    fold_values,
)


@dataclass(frozen=True, slots=True)
class Window:
    start_us: int
    end_us: int
    complete: bool
    studies: dict[str, StudyFigures]


def window_bounds(
    earliest_us: int, as_of_us: int, size_us: int, origin_us: int = 0
) -> list[tuple[int, int]]:
    first = (earliest_us - origin_us) // size_us
    last = (as_of_us - origin_us) // size_us
    return [
        (origin_us + k * size_us, origin_us + (k + 1) * size_us) for k in range(first, last + 1)
    ]


def tumbling_windows(
    engine: Engine, as_of_us: int, size_us: int, origin_us: int = 0, since_us: int | None = None
) -> list[Window]:
    """``since_us``: the audited period's start (default: the earliest event time)."""
    return merge_windows(
        [window_parts(engine, as_of_us, size_us, origin_us, since_us)],
        engine.earliest_us,
        as_of_us,
        size_us,
        origin_us,
        since_us,
    )


WindowParts = dict[int, dict[str, StudyPart]]  # window start -> study -> this engine's part


def window_parts(
    engine: Engine,
    as_of_us: int,
    size_us: int,
    origin_us: int = 0,
    since_us: int | None = None,
    changes: dict[str, list[Changes]] | None = None,
) -> WindowParts:
    """This engine's part of every window from the one holding its own earliest event time,
    or ``since_us`` when given (every engine then drops the same latencies before it).
    ``changes``: per study, the changes of each query's fold over all its events in the
    ledger's order (``scorecard_grains`` gives them), or None to fold the queries here.

    Windows before that hold nothing of this engine; ``merge_windows`` lays them out from
    the earliest time of all engines.
    """
    if engine.earliest_us is None or engine.earliest_us > as_of_us:
        return {}
    start_us = engine.earliest_us if since_us is None else min(since_us, as_of_us)
    # From the window *ending* at start_us when start_us is on an edge: backlog and queries
    # are as at a window's end, so what this engine holds at start_us belongs to that
    # window too (merge_windows lays out windows from the earliest time of all engines).
    bounds = window_bounds(start_us - 1, as_of_us, size_us, origin_us)
    instants = [min(end, as_of_us) for _start, end in bounds]
    per_window: list[dict[str, StudyPart]] = [{} for _ in bounds]
    for study_id, study in engine.studies.items():
        if study.first_seen_us is None or study.first_seen_us > as_of_us:
            continue
        dashboards = {
            name: _dashboard_windows(
                ledger.groups.values(),
                bounds,
                instants,
                as_of_us,
                study.sla_us,
            )
            for name, ledger in study.dashboards.items()
        }
        if changes is None:
            study_changes: Iterable[Changes] = (
                fold_values(query.events)[5] for query in study.queries.queries.values()
            )
        else:
            study_changes = changes[study_id]
        queries = _query_windows(study_changes, instants)
        for k, instant in enumerate(instants):
            if study.first_seen_us > instant:
                continue
            per_window[k][study_id] = StudyPart(
                study.sla_us, {name: parts[k] for name, parts in dashboards.items()}, queries[k]
            )
    return {start: per_window[k] for k, (start, _end) in enumerate(bounds)}


def merge_windows(
    parts: list[WindowParts],
    earliest_us: int | None,
    as_of_us: int,
    size_us: int,
    origin_us: int = 0,
    since_us: int | None = None,
) -> list[Window]:
    """The windows of engines fed disjoint shards (``earliest_us``: the earliest of them all;
    ``since_us``: the audited period's start, as ``tumbling_windows``)."""
    if earliest_us is None or earliest_us > as_of_us:
        return []
    start_us = earliest_us if since_us is None else min(since_us, as_of_us)
    windows = []
    for start, end in window_bounds(start_us, as_of_us, size_us, origin_us):
        by_study: dict[str, list[StudyPart]] = {}
        for engine_parts in parts:
            for study_id, part in engine_parts.get(start, {}).items():
                by_study.setdefault(study_id, []).append(part)
        studies = {sid: merge_study(by_study[sid]) for sid in sorted(by_study)}
        windows.append(Window(start, end, end <= as_of_us, studies))
    return windows


def _dashboard_windows(
    groups: Iterable[GroupLedger],
    bounds: list[tuple[int, int]],
    instants: list[int],
    as_of_us: int,
    sla_us: int,
) -> list[tuple[list[int], BacklogFigures, int | None]]:
    """One dashboard's part of every window, from its groups' entry keys in one pass.

    Per entry: its latency in the window of its publish, its breach in the window where
    its deadline passed, and the instants it is pending (overdue) at as one range of
    instant indexes ``[first, stop)`` in a difference array. What depends on the entry
    time alone is found once per hour bucket when it is the same for the whole hour (the
    common case: windows and SLAs of whole hours), and the instant index of a publish
    once per distinct publish instant (publishes are few, entries many). The oldest
    pending entry at an instant is the earliest entry time among the entries whose range
    covers it: kept per distinct range, then swept with a heap of ranges (the entries are
    never sorted).
    """
    n = len(instants)
    starts = [start for start, _end in bounds]
    first_start = starts[0]
    latencies: list[list[int]] = [[] for _ in range(n)]
    breaches = [0] * (n + 1)  # [n]: deadlines outside the windows, dropped
    pending_diff = [0] * (n + 1)
    overdue_diff = [0] * (n + 1)
    # Range of instant indexes [first, stop) as first * (n + 1) + stop -> earliest entry time.
    oldest: dict[int, int] = {}
    # Publish instant -> (index of the first instant not before it, index of its window or n).
    at_publish: dict[int, tuple[int, int]] = {}
    for group in groups:
        for bucket, entries in group.pending.items():
            first, overdue_first, breach_at = _hour_positions(
                bucket, instants, starts, as_of_us, sla_us
            )
            if first < 0 or overdue_first < 0 or breach_at < 0:
                for key in entries:
                    _entry_at(key >> ENTERED_SHIFT, None, instants, starts, as_of_us, sla_us,
                              pending_diff, overdue_diff, breaches, oldest)  # fmt: skip
                continue
            # Not published by now: pending from its first instant on, at every one.
            count = len(entries)
            breaches[breach_at] += count
            if first < n:
                pending_diff[first] += count
                pending_diff[n] -= count
                _note_oldest(oldest, first * (n + 1) + n, min(entries) >> ENTERED_SHIFT)
            if overdue_first < n:
                overdue_diff[overdue_first] += count
                overdue_diff[n] -= count
        for bucket, published in group.published.items():
            first, overdue_first, breach_at = _hour_positions(
                bucket, instants, starts, as_of_us, sla_us
            )
            if first < 0 or overdue_first < 0 or breach_at < 0:
                for key, when in published.items():
                    _entry_at(key >> ENTERED_SHIFT, when, instants, starts, as_of_us, sla_us,
                              pending_diff, overdue_diff, breaches, oldest)  # fmt: skip
                    if first_start <= when <= as_of_us:
                        latency = when - (key >> ENTERED_SHIFT)
                        latencies[bisect_right(starts, when) - 1].append(latency)
                continue
            for key, when in published.items():
                positions = at_publish.get(when)
                if positions is None:
                    positions = at_publish[when] = _publish_positions(
                        when, instants, starts, as_of_us
                    )
                stop, window = positions
                latency = when - (key >> ENTERED_SHIFT)
                if window < n:
                    latencies[window].append(latency)
                if latency > sla_us:  # published after its deadline: a breach when it passed
                    breaches[breach_at] += 1
                if first < stop:
                    pending_diff[first] += 1
                    pending_diff[stop] -= 1
                    span, entered = first * (n + 1) + stop, key >> ENTERED_SHIFT
                    known = oldest.get(span)  # _note_oldest, written out: once per entry
                    if known is None or entered < known:
                        oldest[span] = entered
                if overdue_first < stop:
                    overdue_diff[overdue_first] += 1
                    overdue_diff[stop] -= 1
    # (earliest entry time, first, stop) per range, by first; a heap of (earliest, stop).
    ranges = sorted([(divmod(at, n + 1), earliest) for at, earliest in oldest.items()])
    heap: list[tuple[int, int]] = []
    cursor = 0
    out: list[tuple[list[int], BacklogFigures, int | None]] = []
    pending = overdue = 0
    for k, instant in enumerate(instants):
        pending += pending_diff[k]
        overdue += overdue_diff[k]
        while cursor < len(ranges) and ranges[cursor][0][0] <= k:
            (_first, stop), entered = ranges[cursor]
            heapq.heappush(heap, (entered, stop))
            cursor += 1
        while heap and heap[0][1] <= k:
            heapq.heappop(heap)
        age = instant - heap[0][0] if heap else None
        latencies[k].sort()  # ascending, as StudyPart says (streams/parts.py)
        out.append((latencies[k], BacklogFigures(pending, age, overdue), breaches[k]))
    return out


def _hour_positions(
    bucket: int, instants: list[int], starts: list[int], as_of_us: int, sla_us: int
) -> tuple[int, int, int]:
    """For every entry of an hour bucket alike, or -1 where its entries differ: the index of
    the first instant at or after its entry time, of the first at or after its deadline
    passed (``overdue_from``), and of the window where the deadline passed (len: none)."""
    n = len(instants)
    low = bucket * BUCKET_US
    high = low + BUCKET_US - 1  # the hour's entry times: [low, high]
    first = bisect_left(instants, low)
    if bisect_left(instants, high) != first:
        first = -1
    low_passed, high_passed = overdue_from(low, sla_us), overdue_from(high, sla_us)
    overdue_first = bisect_left(instants, low_passed)
    if bisect_left(instants, high_passed) != overdue_first:
        overdue_first = -1
    if high_passed < starts[0] or low_passed > as_of_us:
        breach_at = n
    elif starts[0] <= low_passed and high_passed <= as_of_us:
        breach_at = bisect_right(starts, low_passed) - 1
        if bisect_right(starts, high_passed) - 1 != breach_at:
            breach_at = -1
    else:
        breach_at = -1
    return first, overdue_first, breach_at


def _publish_positions(
    when: int, instants: list[int], starts: list[int], as_of_us: int
) -> tuple[int, int]:
    """The index of the first instant at or after a publish (its entries are pending before
    it), and the index of the window it falls in (len: none, before the first or after T)."""
    window = bisect_right(starts, when) - 1 if starts[0] <= when <= as_of_us else len(instants)
    return bisect_left(instants, when), window


def _entry_at(
    entered: int,
    published: int | None,
    instants: list[int],
    starts: list[int],
    as_of_us: int,
    sla_us: int,
    pending_diff: list[int],
    overdue_diff: list[int],
    breaches: list[int],
    oldest: dict[int, int],
) -> None:
    """One entry's breach and pending ranges, each position found by bisection: the entries
    of an hour bucket whose positions differ within the hour (``_hour_positions``)."""
    n = len(instants)
    # Over SLA from the instant it is overdue, when no publish came before then.
    passed = overdue_from(entered, sla_us)
    if (published is None or published >= passed) and starts[0] <= passed <= as_of_us:
        breaches[bisect_right(starts, passed) - 1] += 1
    # Pending at instant a when entered ≤ a < published.
    first = bisect_left(instants, entered)
    stop = n if published is None else bisect_left(instants, published)
    if first < stop:
        pending_diff[first] += 1
        pending_diff[stop] -= 1
        _note_oldest(oldest, first * (n + 1) + stop, entered)
    # Overdue at instant a when overdue_from(entered) ≤ a < published.
    first = bisect_left(instants, passed)
    if first < stop:
        overdue_diff[first] += 1
        overdue_diff[stop] -= 1


def _note_oldest(oldest: dict[int, int], span: int, entered: int) -> None:
    known = oldest.get(span)
    if known is None or entered < known:
        oldest[span] = entered


def _query_windows(changes_per_query: Iterable[Changes], instants: list[int]) -> list[QueryFigures]:
    """Open queries per window instant, in one sweep: O((events + windows) · log n), from
    each query's changes (its fold over all its events, ``fold_values``).

    A query is open in state s over [from, until) between two changes of its fold, and
    within that interval its aging bucket b holds over the instants whose age (instant −
    opened) lies in the bucket's range: one range of window instants per (interval, state,
    bucket), counted by a difference array. The oldest open query at an instant is the
    interval with the smallest ``opened`` among those that cover it: a heap of intervals
    ordered by ``opened``, entered when the sweep reaches their start and dropped lazily
    once it has passed their end.
    """
    n = len(instants)
    buckets = len(AGING_LIMITS_US) + 1
    # diff[state][bucket]: +1 where a range of instants starts, -1 after it ends.
    diff = [[[0] * (n + 1) for _ in range(buckets)] for _ in range(2)]
    intervals: list[tuple[int, int, int]] = []  # (first instant index, opened, stop index)
    limits = AGING_LIMITS_US
    for changes in changes_per_query:
        # Each change's instant index ends the interval before it and starts its own.
        first = bisect_left(instants, changes[0][0]) if changes else n
        for i, (_time_us, state, opened) in enumerate(changes):
            stop = n if i + 1 == len(changes) else bisect_left(instants, changes[i + 1][0])
            start, first = first, stop
            if start >= stop or state not in (AWAITING_SITE, AWAITING_DM):
                continue
            intervals.append((start, opened, stop))  # type: ignore[arg-type]
            rows = diff[state - AWAITING_SITE]
            low = start
            for bucket in range(buckets):
                # Instants of this bucket: age ≤ its limit (and above the previous one's).
                if bucket < len(limits):
                    high = min(stop, bisect_right(instants, opened + limits[bucket]))  # type: ignore[operator]
                else:
                    high = stop
                if low < high:
                    rows[bucket][low] += 1
                    rows[bucket][high] -= 1
                    low = high
                if low >= stop:
                    break
    intervals.sort()
    heap: list[tuple[int, int]] = []  # (opened, stop index)
    cursor = 0
    running = [[0] * buckets for _ in range(2)]
    out: list[QueryFigures] = []
    for k, instant in enumerate(instants):
        while cursor < len(intervals) and intervals[cursor][0] <= k:
            _first, opened, stop = intervals[cursor]
            heapq.heappush(heap, (opened, stop))
            cursor += 1
        while heap and heap[0][1] <= k:
            heapq.heappop(heap)
        for state in range(2):
            row, changes_row = running[state], diff[state]
            for bucket in range(buckets):
                row[bucket] += changes_row[bucket][k]
        site, dm = running
        out.append(
            QueryFigures(
                sum(site),
                sum(dm),
                instant - heap[0][0] if heap else None,
                (site[0] + dm[0], site[1] + dm[1], site[2] + dm[2], site[3] + dm[3]),
                (tuple(site), tuple(dm)),
            )
        )
    return out
