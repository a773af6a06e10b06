"""Property tests for the cumulative tallies (the live histograms), against the brute force.

The tallies are kept incrementally (query folds advance one event at a time and
re-fold only when a late event lands inside a query's history; latencies are
corrected when an earlier publish arrives), so they get their own check: after
any arrival order, they equal what folding everything from scratch gives.
"""

from __future__ import annotations

from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, PublishEvent, QueryEvent
from streams import Engine
from streams.tally import Tally
from tests.streams import brute_force
from tests.streams.boundaries import within_sla
from tests.streams.strategies import (
    BASE,
    DAY,
    DEFAULT_CONFIG,
    HOUR,
    STUDY_CONFIG,
    arrivals,
    engine_config,
)

BOUNDS_S = (60.0, 3600.0, 6 * 3600.0, 86_400.0, 7 * 86_400.0)
BOUNDS_US = tuple(round(b * 1_000_000) for b in BOUNDS_S)
FAR_FUTURE = 1 << 62


def engine_for(retention_us: int | None = None) -> Engine:
    return Engine(
        engine_config(retention_us=retention_us, latency_bounds_s=BOUNDS_S, query_bounds_s=BOUNDS_S)
    )


def shape(tally: Tally) -> tuple[list[int], int, int, int]:
    """The exact figures a tally holds: its corrections taken off (streams/tally.py)."""
    return (
        list(tally.bucket_counts),
        tally.count - tally.withdrawn,
        tally.sum_us - tally.corrected_us,
        tally.within_sla,
    )


def query_shape(tally: Tally, exact: tuple[list[int], int, int, int]) -> tuple[list[int], int, int]:
    """A query tally's figures: withdrawn observations stay in its buckets (a histogram
    series never decreases), so each bucket holds at least the exact count, and the
    excess over all buckets is the withdrawn count."""
    buckets, count, total, _within = shape(tally)
    excess = [have - want for have, want in zip(buckets, exact[0], strict=True)]
    assert min(excess) >= 0 and sum(excess) == tally.withdrawn
    return exact[0], count, total


def expected_shape(values: list[tuple[int, bool]]) -> tuple[list[int], int, int, int]:
    buckets = [0] * (len(BOUNDS_US) + 1)
    for value, _within in values:
        buckets[bisect_left(BOUNDS_US, value)] += 1
    return buckets, len(values), sum(v for v, _ in values), sum(w for _, w in values)


@settings(max_examples=300, deadline=None)
@given(arrivals, st.booleans())
def test_query_tallies_equal_a_fold_from_scratch(events, bounded):
    engine = engine_for(retention_us=60 * DAY if bounded else None)
    engine.apply_all(events)
    unique = brute_force.dedupe(events)
    for study_id in {e.study_id for e in unique if isinstance(e, QueryEvent)}:
        by_query: dict[str, list[QueryEvent]] = {}
        for e in unique:
            if isinstance(e, QueryEvent) and e.study_id == study_id:
                by_query.setdefault(e.query_id, []).append(e)
        answers: list[tuple[int, bool]] = []
        closes: list[tuple[int, bool]] = []
        for query_events in by_query.values():
            newest = max(e.occurred_at for e in query_events)
            _state, _opened, a, c = brute_force.query_durations(query_events, newest)
            answers += [(d, False) for d in a]
            closes += [(d, False) for d in c]
        ledger = engine.studies[study_id].queries
        for tally, durations in ((ledger.answer_tallies[()], answers),
                                 (ledger.close_tallies[()], closes)):  # fmt: skip
            expected = expected_shape(durations)
            assert query_shape(tally, expected) == expected[:3]


@settings(max_examples=300, deadline=None)
@given(arrivals)
def test_latency_tallies_equal_the_earliest_covering_publish(events):
    engine = engine_for()
    engine.apply_all(events)
    unique = brute_force.dedupe(events)
    tallies = {(s, d): t for s, d, _key, t in engine.latency_tallies()}
    for study_id in {e.study_id for e in unique if isinstance(e, EntryEvent)}:
        dashboards, sla = STUDY_CONFIG.get(study_id, DEFAULT_CONFIG)
        entries = [e for e in unique if isinstance(e, EntryEvent) and e.study_id == study_id]
        publishes = [p for p in unique if isinstance(p, PublishEvent) and p.study_id == study_id]
        for dashboard in dashboards:
            latencies = []
            for entry in entries:
                first = brute_force.first_publish(entry, publishes, dashboard, FAR_FUTURE)
                if first is not None:
                    latency = first - entry.entered_at
                    latencies.append((latency, within_sla(latency, sla)))
            assert shape(tallies[(study_id, dashboard)]) == expected_shape(latencies)


def test_a_reopened_query_folds_the_same_in_order_and_out_of_order():
    def q(event_id: str, status: str, hours: int) -> QueryEvent:
        return QueryEvent(
            event_id=event_id, query_id="Q", study_id="S",
            site_id="s", status=status, occurred_at=BASE + hours * HOUR,
        )  # fmt: skip

    story = [
        q("o1", "opened", 0),
        q("a1", "answered", 5),
        q("c1", "closed", 8),
        q("o2", "opened", 30),  # reopened: ages from here
        q("a2", "answered", 31),
        q("x", "answered", 31),  # same instant: arrival order decides, and it changes nothing
        q("c2", "cancelled", 40),
    ]
    late_first = [story[3], story[6], story[0], story[2], story[1], story[4], story[5]]
    results = []
    for order in (story, late_first):
        engine = engine_for()
        engine.apply_all(order)
        ledger = engine.studies["S"].queries
        query = ledger.queries["Q"]
        results.append(
            (
                shape(ledger.answer_tallies[()]),
                shape(ledger.close_tallies[()]),
                query.state,
                query.opened_us,
                query.orphans,
                query.folded,
            )
        )
    assert results[0] == results[1]
    answers, closes, *_ = results[0]
    assert answers == expected_shape([(5 * HOUR, False), (1 * HOUR, False)])
    assert closes == expected_shape([(8 * HOUR, False), (10 * HOUR, False)])
    # Midway, as of hour 20: closed once, not yet reopened.
    engine = engine_for()
    engine.apply_all(late_first)
    assert engine.studies["S"].queries.queries["Q"].as_of(BASE + 20 * HOUR).state == 3


# Every path by which an entry gets or lowers its publish, in one scenario: record publishes
# of pending entries (new hour and hour with published entries), snapshots covering pending
# entries into hours that already hold published ones, several within the SLA at once, a late
# earlier snapshot and a late earlier record publish lowering latencies, snapshots dominated
# by or dominating the frontier, late entries matched against it, and a record publish that
# must not reach an entry one microsecond after it. Study S1: SLA 6 h, dashboards default, ops.
M = 60_000_000
SCENARIO = [
    ("entry", "e1", 0, "r1"), ("entry", "e2", 10 * M, "r2"), ("entry", "e3", 20 * M, "r3"),
    ("entry", "e4", HOUR - 1, "r4"), ("entry", "e5", HOUR, "r1"), ("entry", "e6", 90 * M, "r5"),
    ("entry", "e6b", 90 * M, "r6"), ("entry", "e6c", 95 * M, "r7"),
    ("records", "p1", 30 * M, ["r1"]),
    ("records", "p2", 40 * M, ["r2", "r1"]),
    ("snapshot", "s1", 2 * HOUR, 20 * M),
    ("snapshot", "s2", 9 * HOUR, 100 * M),  # e4, e5, e6, e6b, e6c; e6* later than the SLA
    ("snapshot", "s0", 105 * M, HOUR),  # late and earlier: lowers e4 and e5
    ("records", "p3", 100 * M, ["r5", "r6"]),  # late and earlier: lowers e6 and e6b
    ("snapshot", "s-dominated", 10 * HOUR, 50 * M),  # later than s1 for less: changes nothing
    ("snapshot", "s-eq", 9 * HOUR, 100 * M),  # the same point again
    ("snapshot", "s-dom", 3 * HOUR, 110 * M),  # dominates s2 (later cutoff, earlier time)
    ("entry", "late-a", 5 * M, "r2"),  # late entries, matched against what arrived
    ("entry", "late-b", 100 * M, "r8"),
    ("entry", "late-c", 110 * M, "r9"),
    ("entry", "late-d", 110 * M + 1, "r1"),  # after every cutoff
    ("records", "p4", 110 * M, ["r1", "r9"]),  # not late-d: entered 1 µs after the publish
    ("entry", "e10", 4 * HOUR, "r10"), ("entry", "e11", 4 * HOUR + 5 * M, "r11"),
    ("snapshot", "s4", 9 * HOUR, 5 * HOUR),  # one hour, two entries within the SLA at once
    ("entry", "e12", 6 * HOUR, "r12"), ("entry", "e13", 6 * HOUR + M, "r13"),
    ("records", "p5", 6 * HOUR + 10 * M, ["r12", "r13"]),  # two within the SLA at once
    ("records", "p6", 30 * M, ["r14"]),  # before its entry arrives, into an hour with others
    ("entry", "e14", 25 * M, "r14"),
]  # fmt: skip


def _scenario_events() -> list:  # type: ignore[type-arg]
    from tests.streams.strategies import _valid, format_timestamp

    events = []
    for kind, eid, at_us, what in SCENARIO:
        base = {"event_id": eid, "study_id": "S1"}
        if kind == "entry":
            doc = {**base, "schema": "edc.entry/1", "site_id": "s", "subject_id": "x",
                   "form_id": "f", "record_id": what,
                   "entered_at": format_timestamp(BASE + at_us)}  # fmt: skip
            events.append(_valid(EntryEvent, doc))
        else:
            doc = {**base, "schema": "dashboard.publish/1",
                   "published_at": format_timestamp(BASE + at_us)}  # fmt: skip
            if kind == "records":
                doc["record_ids"] = what
            else:
                doc["data_cutoff"] = format_timestamp(BASE + what)
            events.append(_valid(PublishEvent, doc))
    return events


def test_every_coverage_path_in_one_scenario_equals_the_brute_force():
    from tests.streams.shapes import snapshot_dict

    events = _scenario_events()
    engine = engine_for()
    engine.apply_all(events)
    publishes = [e for e in events if isinstance(e, PublishEvent)]
    dashboards, sla = STUDY_CONFIG["S1"]
    tallies = {d: t for _s, d, _k, t in engine.latency_tallies()}
    for dashboard in dashboards:
        latencies = []
        for entry in (e for e in events if isinstance(e, EntryEvent)):
            first = brute_force.first_publish(entry, publishes, dashboard, FAR_FUTURE)
            if first is not None:
                latency = first - entry.entered_at
                latencies.append((latency, within_sla(latency, sla)))
        assert shape(tallies[dashboard]) == expected_shape(latencies)
    _buckets, count, _sum, within = shape(tallies["default"])
    assert (count, within) == (17, 16)  # every entry is published in the end, one too late
    for minutes in range(0, 12 * 60, 5):
        for as_of in (BASE + minutes * M, BASE + minutes * M - 1):
            expected = brute_force.snapshot(events, STUDY_CONFIG, DEFAULT_CONFIG, as_of)
            assert snapshot_dict(engine.snapshot(as_of)) == expected, minutes


def test_a_close_that_no_longer_holds_is_withdrawn_with_its_duration_each_time():
    """A late close inside a query's history: the close it replaces stays in the exported
    series (counters never drop) and is counted withdrawn, its duration corrected."""

    def q(event_id: str, status: str, hours: int) -> QueryEvent:
        return QueryEvent(
            event_id=event_id, query_id="Q", study_id="S",
            site_id="s", status=status, occurred_at=BASE + hours * HOUR,
        )  # fmt: skip

    engine = engine_for()
    engine.apply_all([q("o", "opened", 0), q("c8", "closed", 8), q("c4", "closed", 4)])
    closes = engine.studies["S"].queries.close_tallies[()]
    assert (closes.count, closes.withdrawn, closes.corrected_us) == (2, 1, 8 * HOUR)
    engine.apply(q("c2", "closed", 2))
    assert (closes.count, closes.withdrawn, closes.corrected_us) == (3, 2, 12 * HOUR)
    assert closes.sum_us - closes.corrected_us == 2 * HOUR  # what holds: the close at 2 h
