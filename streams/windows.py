"""Tumbling windows over event time, computed in one sweep per study and dashboard.

Contract, version 1: windows of a fixed size (default one day, aligned to UTC
midnight) from the window holding the earliest event time (≤ T), or the start of
the audited period when given, to the one holding T, which is marked incomplete.
Per window and study: the latency figures of entries whose earliest covering
publish falls inside the window; backlog and open queries as at the window's end,
or T if earlier ("as at" includes that instant, as every "as of" does).

Rather than asking the engine for a snapshot per window (windows × entries),
each entry is pending over the interval [entered, published) and overdue over
(entered + SLA, published): a difference array over the sorted window instants
counts both, and a heap finds the oldest pending entry at each instant.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from streams.engine import Engine
from streams.figures import (
    BacklogFigures,
    DashboardFigures,
    LatencyFigures,
    QueryFigures,
    StudyFigures,
)
from streams.queries import AWAITING_DM, AWAITING_SITE, TrackedQuery, aging_bucket, fold

_NEVER = 1 << 62  # "not published yet", later than any instant


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
    if engine.earliest_us is None or engine.earliest_us > as_of_us:
        return []
    start_us = engine.earliest_us if since_us is None else min(since_us, as_of_us)
    bounds = window_bounds(start_us, as_of_us, size_us, origin_us)
    instants = [min(end, as_of_us) for _start, end in bounds]
    per_window: list[dict[str, StudyFigures]] = [{} for _ in bounds]
    for study_id in sorted(engine.studies):
        study = engine.studies[study_id]
        if study.first_seen_us is None or study.first_seen_us > as_of_us:
            continue
        dashboards = {
            name: _dashboard_windows(
                [
                    times
                    for group in study.dashboards[name].groups.values()
                    for times in group.iter_times()
                ],
                bounds,
                instants,
                as_of_us,
                study.sla_us,
            )
            for name in sorted(study.dashboards)
        }
        queries = _query_windows(study.queries.queries.values(), instants)
        for k, instant in enumerate(instants):
            if study.first_seen_us > instant:
                continue
            per_window[k][study_id] = StudyFigures(
                {name: figures[k] for name, figures in dashboards.items()}, queries[k]
            )
    return [
        Window(start, end, end <= as_of_us, per_window[k]) for k, (start, end) in enumerate(bounds)
    ]


def _dashboard_windows(
    entries: list[tuple[int, int | None]],  # (entered_us, published_us or None)
    bounds: list[tuple[int, int]],
    instants: list[int],
    as_of_us: int,
    sla_us: int,
) -> list[DashboardFigures]:
    n = len(instants)
    starts = [start for start, _end in bounds]
    latencies: list[list[int]] = [[] for _ in range(n)]
    pending_diff = [0] * (n + 1)
    overdue_diff = [0] * (n + 1)
    for entered, published in entries:
        if published is not None and starts[0] <= published <= as_of_us:
            latencies[bisect_right(starts, published) - 1].append(published - entered)
        # Pending at instant a when entered ≤ a < published.
        first = bisect_left(instants, entered)
        stop = n if published is None else bisect_left(instants, published)
        if first < stop:
            pending_diff[first] += 1
            pending_diff[stop] -= 1
        # Overdue at instant a when entered + SLA < a < published.
        first = bisect_right(instants, entered + sla_us)
        if first < stop:
            overdue_diff[first] += 1
            overdue_diff[stop] -= 1
    ordered = sorted(
        (entered, _NEVER if published is None else published)
        for entered, published in entries
        if entered <= as_of_us
    )
    heap: list[tuple[int, int]] = []
    cursor = 0
    out: list[DashboardFigures] = []
    pending = overdue = 0
    for k, instant in enumerate(instants):
        pending += pending_diff[k]
        overdue += overdue_diff[k]
        while cursor < len(ordered) and ordered[cursor][0] <= instant:
            heapq.heappush(heap, ordered[cursor])
            cursor += 1
        while heap and heap[0][1] <= instant:
            heapq.heappop(heap)
        oldest = instant - heap[0][0] if heap else None
        out.append(
            DashboardFigures(
                LatencyFigures.of(latencies[k], sla_us), BacklogFigures(pending, oldest, overdue)
            )
        )
    return out


def _query_windows(queries: Iterable[TrackedQuery], instants: list[int]) -> list[QueryFigures]:
    n = len(instants)
    site = [0] * n
    dm = [0] * n
    aging = [[0, 0, 0, 0] for _ in range(n)]
    by_state = [([0, 0, 0, 0], [0, 0, 0, 0]) for _ in range(n)]
    oldest: list[int | None] = [None] * n
    for query in queries:
        changes = fold(query.events).changes
        for i, (time_us, state, opened) in enumerate(changes):
            if state not in (AWAITING_SITE, AWAITING_DM):
                continue
            until = changes[i + 1][0] if i + 1 < len(changes) else None
            first = bisect_left(instants, time_us)
            stop = n if until is None else bisect_left(instants, until)
            for k in range(first, stop):
                if state == AWAITING_SITE:
                    site[k] += 1
                else:
                    dm[k] += 1
                age = instants[k] - opened
                bucket = aging_bucket(age)
                aging[k][bucket] += 1
                by_state[k][state - AWAITING_SITE][bucket] += 1
                if oldest[k] is None or age > oldest[k]:
                    oldest[k] = age
    return [
        QueryFigures(
            site[k],
            dm[k],
            oldest[k],
            (aging[k][0], aging[k][1], aging[k][2], aging[k][3]),
            (tuple(by_state[k][0]), tuple(by_state[k][1])),
        )
        for k in range(n)
    ]
