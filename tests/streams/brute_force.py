"""A deliberately naive restatement of the contract's semantics, to check the engine against.

Written from the contract text, not from streams/: lists and loops, every figure
recomputed from all events for every instant asked.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from schemas import EntryEvent, Event, PublishEvent, QueryEvent
from tests.streams.boundaries import (
    aging_bucket,
    exists_as_of,
    fresh,
    in_window,
    input_reached,
    minute_judged_at,
    over_30_days,
    overdue,
    record_publish_covers,
    snapshot_covers,
    window_complete,
    within_sla,
)

DAY = 86_400_000_000


def _rank_value(values: list[int], p: int) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(Fraction(p, 100) * len(ordered)) - 1]


def dedupe(events: list[Event]) -> list[Event]:
    seen: set[str] = set()
    kept = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            kept.append(event)
    return kept


def _time(event: Event) -> int:
    if isinstance(event, EntryEvent):
        return event.entered_at
    if isinstance(event, PublishEvent):
        return event.published_at
    return event.occurred_at


def first_publish(entry: EntryEvent, publishes: list[PublishEvent], dashboard: str, t: int):
    times = []
    for p in publishes:
        if p.study_id != entry.study_id or p.dashboard != dashboard:
            continue
        if not exists_as_of(p.published_at, t):
            continue
        if p.data_cutoff is not None:
            if snapshot_covers(entry.entered_at, p.data_cutoff):
                times.append(p.published_at)
        elif entry.record_id in p.record_ids and record_publish_covers(
            entry.entered_at, p.published_at
        ):
            times.append(p.published_at)
    return min(times) if times else None


def query_states(events: list[QueryEvent], t: int) -> tuple[dict[str, tuple[str, int]], int]:
    """query_id -> (state, opened_at) for open queries as of t; and the orphan event count."""
    by_query: dict[tuple[str, str], list[QueryEvent]] = {}
    for q in events:
        by_query.setdefault((q.study_id, q.query_id), []).append(q)
    states: dict[tuple[str, str], tuple[str, int]] = {}
    orphans = 0
    for key, evs in by_query.items():
        state, opened = "never", 0
        for q in sorted(
            (e for e in evs if exists_as_of(e.occurred_at, t)), key=lambda e: e.occurred_at
        ):
            if q.status == "opened":
                state, opened = "site", q.occurred_at
            elif state == "never":
                orphans += 1
            elif state == "closed":
                pass
            elif q.status == "answered":
                state = "dm"
            else:
                state = "closed"
        if state in ("site", "dm"):
            states[key] = (state, opened)
    return states, orphans


def study_figures(
    events: list[Event],
    study: str,
    dashboards: tuple[str, ...],
    sla: int,
    t: int,
    latency_window: tuple[int, int] | None = None,
) -> dict[str, Any]:
    entries = [
        e
        for e in events
        if isinstance(e, EntryEvent) and e.study_id == study and exists_as_of(e.entered_at, t)
    ]
    publishes = [p for p in events if isinstance(p, PublishEvent) and p.study_id == study]
    out: dict[str, Any] = {"dashboards": {}}
    for dashboard in dashboards:
        latencies, pending_entered = [], []
        over_sla = 0
        for entry in entries:
            first = first_publish(entry, publishes, dashboard, t)
            if first is None:
                pending_entered.append(entry.entered_at)
            elif latency_window is None or in_window(first, *latency_window):
                latencies.append(first - entry.entered_at)
            # Over SLA: the deadline passed (t is after it) with no covering publish by it;
            # in a window, when the first instant after the deadline lies inside it.
            breached = overdue(entry.entered_at, t, sla) and (
                first is None or not within_sla(first - entry.entered_at, sla)
            )
            if latency_window is not None:
                breached = breached and in_window(entry.entered_at + sla + 1, *latency_window)
            over_sla += breached
        out["dashboards"][dashboard] = {
            "latency": {
                "count": len(latencies),
                "p50": _rank_value(latencies, 50),
                "p95": _rank_value(latencies, 95),
                "p99": _rank_value(latencies, 99),
                "max": max(latencies) if latencies else None,
                "within_sla": sum(1 for x in latencies if within_sla(x, sla)),
                "over_sla": over_sla,
            },
            "backlog": {
                "pending": len(pending_entered),
                "oldest_age": t - min(pending_entered) if pending_entered else None,
                "overdue": sum(1 for x in pending_entered if overdue(x, t, sla)),
            },
        }
    queries = [q for q in events if isinstance(q, QueryEvent) and q.study_id == study]
    states, _ = query_states(queries, t)
    ages = [t - opened for _s, opened in states.values()]
    out["queries"] = {
        "awaiting_site": sum(1 for s, _ in states.values() if s == "site"),
        "awaiting_dm": sum(1 for s, _ in states.values() if s == "dm"),
        "oldest": max(ages) if ages else None,
        "aging": [sum(1 for a in ages if aging_bucket(a) == bucket) for bucket in range(4)],
    }
    return out


def snapshot(
    arrivals: list[Event], config: dict[str, tuple[tuple[str, ...], int]], default, t: int
) -> dict[str, Any]:
    events = dedupe(arrivals)
    studies = sorted({e.study_id for e in events if exists_as_of(_time(e), t)})
    result = {}
    for study in studies:
        dashboards, sla = config.get(study, default)
        result[study] = study_figures(events, study, tuple(sorted(dashboards)), sla, t)
    queries = [q for q in events if isinstance(q, QueryEvent)]
    _, orphans = query_states(queries, t)
    return {"studies": result, "orphans": orphans}


def windows(arrivals: list[Event], config, default, t: int, size: int) -> list[dict[str, Any]]:
    events = dedupe(arrivals)
    times = [_time(e) for e in events if exists_as_of(_time(e), t)]
    if not times:
        return []
    out = []
    k = min(times) // size
    while exists_as_of(k * size, t):  # up to the window holding T
        start, end = k * size, (k + 1) * size
        instant = min(end, t)
        studies = {}
        for study in sorted({e.study_id for e in events if exists_as_of(_time(e), instant)}):
            dashboards, sla = config.get(study, default)
            figures = study_figures(events, study, tuple(sorted(dashboards)), sla, instant)
            # Latency figures of entries whose first publish (as of T) falls in the window.
            latency = study_figures(events, study, tuple(sorted(dashboards)), sla, t, (start, end))
            for name in figures["dashboards"]:
                figures["dashboards"][name]["latency"] = latency["dashboards"][name]["latency"]
            studies[study] = figures
        out.append(
            {"start": start, "end": end, "complete": window_complete(end, t), "studies": studies}
        )
        k += 1
    return out


# -- FSP scorecards (streams/scorecards.py) ----------------------------------------------

UNASSIGNED = "unassigned"


def query_durations(
    events: list[QueryEvent], t: int
) -> tuple[str, int | None, list[int], list[int]]:
    """A query's state and latest opening as of t, its times to answer and to close up to t."""
    state, opened = "never", None
    answers: list[int] = []
    closes: list[int] = []
    for q in sorted(
        (e for e in events if exists_as_of(e.occurred_at, t)), key=lambda e: e.occurred_at
    ):
        if q.status == "opened":
            state, opened = "site", q.occurred_at
        elif state in ("never", "closed"):
            continue  # nothing is open: an answer or a close of no open query counts for nothing
        elif q.status == "answered":
            if state == "site":
                answers.append(q.occurred_at - opened)
            state = "dm"
        else:
            closes.append(q.occurred_at - opened)
            state = "closed"
    return state, opened, answers, closes


def _card(rows: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [r["latency"] for r in rows if r.get("latency") is not None]
    entries = [r for r in rows if r["kind"] == "entry"]
    waiting = [r for r in entries if r["latency"] is None]
    open_queries = [r for r in rows if r["kind"] == "query" and r["open"]]
    answers = [d for r in rows for d in r.get("answers", [])]
    closes = [d for r in rows for d in r.get("closes", [])]
    return {
        "entries": len(entries),
        "published": len(latencies),
        "p50": _rank_value(latencies, 50),
        "p95": _rank_value(latencies, 95),
        "within_sla": sum(
            1 for r in rows if r.get("latency") is not None and within_sla(r["latency"], r["sla"])
        ),
        "pending": len(waiting),
        "overdue": sum(1 for r in waiting if r["overdue"]),
        # Over SLA: published after the deadline, or waiting past it.
        "over_sla": sum(
            1
            for r in entries
            if (r["latency"] is None and r["overdue"])
            or (r["latency"] is not None and not within_sla(r["latency"], r["sla"]))
        ),
        "open_queries": len(open_queries),
        "queries_over_30d": sum(1 for r in open_queries if over_30_days(r["age"])),
        "answers": len(answers),
        "median_answer": _rank_value(answers, 50),
        "closes": len(closes),
        "median_close": _rank_value(closes, 50),
    }


def _scorecard_set(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dimension in ("vendor", "country"):
        values = sorted({r[dimension] for r in rows})
        out[dimension] = {v: _card([r for r in rows if r[dimension] == v]) for v in values}
    shares = [
        Fraction(card["within_sla"], card["within_sla"] + card["over_sla"])
        for vendor, card in out["vendor"].items()
        if vendor != UNASSIGNED and card["within_sla"] + card["over_sla"]
    ]
    if shares:
        mean = sum(shares) / len(shares)
        out["spread"] = {
            "vendors": len(shares),
            "min": min(shares),
            "max": max(shares),
            "stdev": math.sqrt(sum((s - mean) ** 2 for s in shares) / len(shares)),
        }
    else:
        out["spread"] = {"vendors": 0, "min": None, "max": None, "stdev": None}
    return out


def scorecards(arrivals: list[Event], config, default, t: int) -> dict[str, Any]:
    """Per vendor and country, all studies and per study; each entry counted once per dashboard."""
    events = dedupe(arrivals)
    rows: list[dict[str, Any]] = []
    for entry in (
        e for e in events if isinstance(e, EntryEvent) and exists_as_of(e.entered_at, t)
    ):
        dashboards, sla = config.get(entry.study_id, default)
        publishes = [p for p in events if isinstance(p, PublishEvent)]
        for dashboard in dashboards:
            first = first_publish(entry, publishes, dashboard, t)
            rows.append({
                "kind": "entry", "study": entry.study_id, "site": entry.site_id,
                "vendor": entry.vendor or UNASSIGNED, "country": entry.country or UNASSIGNED,
                "latency": None if first is None else first - entry.entered_at,
                "sla": sla, "overdue": overdue(entry.entered_at, t, sla),
            })  # fmt: skip
    by_query: dict[tuple[str, str], list[QueryEvent]] = {}
    for q in events:
        if isinstance(q, QueryEvent):
            by_query.setdefault((q.study_id, q.query_id), []).append(q)
    for (study, _query_id), evs in by_query.items():
        state, opened, answers, closes = query_durations(evs, t)
        if opened is None:
            continue
        first = evs[0]  # the first to arrive names the query's site, country and vendor
        rows.append({
            "kind": "query", "study": study, "site": first.site_id,
            "vendor": first.vendor or UNASSIGNED, "country": first.country or UNASSIGNED,
            "open": state in ("site", "dm"), "age": t - opened,
            "answers": answers, "closes": closes,
        })  # fmt: skip
    studies = sorted({r["study"] for r in rows})
    breaches: dict[str, list[dict[str, Any]]] = {}
    for study in studies:
        entries = [r for r in rows if r["kind"] == "entry" and r["study"] == study]
        over = [r for r in entries if (r["latency"] is None and r["overdue"])
                or (r["latency"] is not None and not within_sla(r["latency"], r["sla"]))]  # fmt: skip
        sites = sorted(
            {r["site"] for r in over}, key=lambda s: (-sum(r["site"] == s for r in over), s)
        )
        breaches[study] = [
            {
                "site": s,
                "over_sla": sum(1 for r in over if r["site"] == s),
                "entries": sum(1 for r in entries if r["site"] == s),
                "share": Fraction(sum(1 for r in over if r["site"] == s), len(over)),
            }
            for s in sites[:10]
        ]
    return {
        "all": _scorecard_set(rows),
        "studies": {s: _scorecard_set([r for r in rows if r["study"] == s]) for s in studies},
        "sites_behind_breaches": breaches,
    }


# -- over SLA as counted live (streams/latency.py, "Breaches") ----------------------------


def breaches_as_counted(
    arrivals: list[Event], config, default
) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (study, dashboard): entries counted over SLA and those withdrawn since, event by event.

    After each arrival the clock is the newest event time seen. An entry is counted the
    first time the clock is past its deadline while no publish seen so far covers it by
    the deadline; withdrawn when a publish that arrives later does.
    """
    seen: list[Event] = []
    counted: dict[tuple[str, str, str], bool] = {}  # (entry event id, dashboard) -> withdrawn
    clock: int | None = None
    for event in arrivals:
        if any(e.event_id == event.event_id for e in seen):
            continue
        seen.append(event)
        clock = _time(event) if clock is None else max(clock, _time(event))
        publishes = [p for p in seen if isinstance(p, PublishEvent)]
        for entry in (e for e in seen if isinstance(e, EntryEvent)):
            dashboards, sla = config.get(entry.study_id, default)
            for dashboard in dashboards:
                first = first_publish(entry, publishes, dashboard, 1 << 62)
                in_time = first is not None and within_sla(first - entry.entered_at, sla)
                key = (entry.event_id, entry.study_id, dashboard)
                if key in counted:
                    counted[key] = counted[key] or in_time
                elif overdue(entry.entered_at, clock, sla) and not in_time:
                    counted[key] = False
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for (_event_id, study, dashboard), withdrawn in counted.items():
        total, back = out.get((study, dashboard), (0, 0))
        out[(study, dashboard)] = (total + 1, back + withdrawn)
    return out


MINUTE = 60_000_000


def freshness_signals(
    events: list[Event], study: str, dashboard: str, t: int
) -> tuple[int | None, int | None, int | None]:
    """(newest publish, newest data shown, first entry) of a study's dashboard as of T.

    Newest data shown: the largest snapshot cutoff and entry time an entry made visible by a
    record publish (its record named, entered at or before the publish), over publishes ≤ T.
    """
    kept = dedupe(events)
    publishes = [
        e for e in kept
        if isinstance(e, PublishEvent) and e.study_id == study and e.dashboard == dashboard
        and exists_as_of(e.published_at, t)
    ]  # fmt: skip
    entries = [e for e in kept if isinstance(e, EntryEvent) and e.study_id == study]
    newest_publish = max((p.published_at for p in publishes), default=None)
    shown: list[int] = []
    for p in publishes:
        if p.data_cutoff is not None:
            shown.append(p.data_cutoff)
        else:
            shown += [
                e.entered_at for e in entries
                if e.record_id in (p.record_ids or ()) and record_publish_covers(e.entered_at, p.published_at)
            ]  # fmt: skip
    first = min((e.entered_at for e in entries if exists_as_of(e.entered_at, t)), default=None)
    return newest_publish, max(shown, default=None), first


def uptime_minutes(
    events: list[Event],
    study: str,
    dashboard: str,
    t: int,
    clock: int | None,
    publish_after: int,
    data_after: int,
    window: int,
) -> tuple[int, int, int]:
    """(good, bad, unknown) minutes of the window ending at T, one minute at a time."""
    good = bad = unknown = 0
    reached = None if clock is None else min(t, clock)
    last = (t + 1) // MINUTE - 1
    for minute in range(last - window // MINUTE + 1, last + 1):
        at = minute_judged_at(minute, MINUTE)
        if not input_reached(at, reached):
            unknown += 1
            continue
        published, shown, first = freshness_signals(events, study, dashboard, at)
        publish_base = published if published is not None else first
        data_base = shown if shown is not None else first
        if publish_base is None or data_base is None:
            unknown += 1
        elif fresh(at - publish_base, publish_after) and fresh(at - data_base, data_after):
            good += 1
        else:
            bad += 1
    return good, bad, unknown
# -- visit to entry (docs/contract.md, "Visit to entry") ------------------------------------


def visit_to_entry(
    events: list[Event], as_of: int, medium_us: int, high_us: int
) -> dict[str, dict[str, Any]]:
    """Per study: the visit-to-entry figures over every entry entered by T, per (site, country,
    vendor), and the entries left out by reason. Restated with datetime from the contract text:
    the visit begins at 00:00 UTC of its date; up to 14 h earlier counts 0; earlier still is
    "entered before the visit"; no visit date is "without a visit date"."""
    from datetime import UTC, date, datetime, timedelta

    out: dict[str, dict[str, Any]] = {}
    for event in dedupe(events):
        if not isinstance(event, EntryEvent) or event.entered_at > as_of:
            continue
        study = out.setdefault(
            event.study_id, {"grains": {}, "without_visit_date": 0, "entered_before_visit": 0}
        )
        if event.visit_date is None:
            study["without_visit_date"] += 1
            continue
        midnight = datetime.combine(date.fromisoformat(event.visit_date), datetime.min.time(), UTC)
        entered = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=event.entered_at)
        elapsed = entered - midnight
        if elapsed < -timedelta(hours=14):
            study["entered_before_visit"] += 1
            continue
        value = max(elapsed, timedelta(0)) // timedelta(microseconds=1)
        grain = (event.site_id, event.country or "unassigned", event.vendor or "unassigned")
        study["grains"].setdefault(grain, []).append(value)
    for study in out.values():
        study["grains"] = {
            grain: {
                "count": len(values),
                "mean": (2 * sum(values) + len(values)) // (2 * len(values)),
                "p50": _rank_value(values, 50),
                "p95": _rank_value(values, 95),
                "max": max(values),
                "over_medium": sum(1 for v in values if v > medium_us),
                "over_high": sum(1 for v in values if v > high_us),
            }
            for grain, values in study["grains"].items()
        }
    return out
