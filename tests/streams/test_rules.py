"""One test per rule of the contract's semantics, and the named cases of issue 2.

Every event is written as the JSON a producer would send and goes through
``schemas.parse_event``, so the tests read like the contract (docs/contract.md).
"""

from __future__ import annotations

import orjson

from schemas import Rejection, parse_event, parse_timestamp_us
from streams import (
    ACCEPTED,
    DUPLICATE,
    UNKNOWN_DASHBOARD,
    Engine,
    EngineConfig,
    StudyConfig,
    tumbling_windows,
)
from streams.figures import DashboardFigures, QueryFigures
from streams.latency import ENTERED_SHIFT
from streams.percentiles import nearest_rank

US = 1
MIN = 60_000_000
H = 60 * MIN
DAY = 24 * H


def t(text: str) -> int:
    return parse_timestamp_us(text)


# -- events as producers write them ---------------------------------------------------


def entry(eid: str, at: str, record: str = "r1", study: str = "S") -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": eid, "study_id": study, "site_id": "DE-101",
        "subject_id": "DE-101-S007", "form_id": "VS", "record_id": record, "entered_at": at,
    })  # fmt: skip


def snapshot(eid: str, at: str, cutoff: str, dashboard: str = "default", study: str = "S") -> bytes:
    return orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": eid, "study_id": study,
        "published_at": at, "data_cutoff": cutoff, "dashboard": dashboard,
    })  # fmt: skip


def records(
    eid: str, at: str, ids: list[str], dashboard: str = "default", study: str = "S"
) -> bytes:
    return orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": eid, "study_id": study,
        "published_at": at, "record_ids": ids, "dashboard": dashboard,
    })  # fmt: skip


def query(eid: str, qid: str, status: str, at: str, study: str = "S") -> bytes:
    return orjson.dumps({
        "schema": "edc.query/1", "event_id": eid, "query_id": qid, "study_id": study,
        "site_id": "DE-101", "status": status, "occurred_at": at,
    })  # fmt: skip


# -- driving the engine -------------------------------------------------------------


def make_engine(
    sla_h: float = 24,
    dashboards: tuple[str, ...] = ("default",),
    studies: dict[str, StudyConfig] | None = None,
    retention: int | None = None,
) -> Engine:
    return Engine(
        EngineConfig(
            default_study=StudyConfig(sla_us=int(sla_h * H), dashboards=dashboards),
            studies=studies or {},
            retention_us=retention,
        )
    )


def feed(engine: Engine, *messages: bytes) -> list[str]:
    outcomes = []
    for message in messages:
        event = parse_event(message)
        assert not isinstance(event, Rejection), event
        outcomes.append(engine.apply(event))
    return outcomes


def run(*messages: bytes, **config) -> Engine:
    engine = make_engine(**config)
    feed(engine, *messages)
    return engine


def dash(
    engine: Engine, as_of: str, dashboard: str = "default", study: str = "S"
) -> DashboardFigures:
    return engine.snapshot(t(as_of)).studies[study].dashboards[dashboard]


def open_queries(engine: Engine, as_of: str, study: str = "S") -> QueryFigures:
    return engine.snapshot(t(as_of)).studies[study].queries


# -- duplicates ---------------------------------------------------------------------


def test_first_occurrence_of_an_event_id_wins_even_when_the_duplicate_differs():
    engine = make_engine()
    outcomes = feed(
        engine,
        entry("e1", "2026-01-01T00:00:00Z", "r1"),
        entry("e1", "2026-01-01T00:00:00Z", "r1"),  # exact: a producer's retry
        entry("e1", "2026-01-01T05:00:00Z", "r2"),  # conflicting content
        query("e1", "Q-1", "opened", "2026-01-01T01:00:00Z"),  # the id space is shared
    )
    assert outcomes == [ACCEPTED, DUPLICATE, DUPLICATE, DUPLICATE]
    assert (engine.counters.accepted, engine.counters.duplicates) == (1, 3)
    feed(engine, records("p", "2026-01-01T06:00:00Z", ["r2"]))  # r2 was never entered
    f = dash(engine, "2026-01-02T00:00:00Z")
    assert (f.backlog.pending, f.backlog.oldest_age_us, f.latency.count) == (1, DAY, 0)
    assert open_queries(engine, "2026-01-02T00:00:00Z").open == 0


def test_whichever_of_two_conflicting_events_arrives_first_wins():
    early = entry("e1", "2026-01-01T00:00:00Z")
    late = entry("e1", "2026-01-01T05:00:00Z")
    assert dash(run(early, late), "2026-01-02T00:00:00Z").backlog.oldest_age_us == 24 * H
    assert dash(run(late, early), "2026-01-02T00:00:00Z").backlog.oldest_age_us == 19 * H


def test_a_conflicting_duplicate_publish_does_not_lower_a_latency():
    engine = run(
        entry("e", "2026-01-01T00:00:00Z", "r1"),
        records("p", "2026-01-01T03:00:00Z", ["r1"]),
        records("p", "2026-01-01T01:00:00Z", ["r1"]),
    )
    assert dash(engine, "2026-01-02T00:00:00Z").latency.max_us == 3 * H


# -- dashboards ---------------------------------------------------------------------


def test_dashboards_are_configured_per_study_and_a_publish_elsewhere_is_counted_and_ignored():
    engine = make_engine(studies={"ONC": StudyConfig(dashboards=("default", "safety"))})
    feed(
        engine,
        entry("a", "2026-01-01T00:00:00Z", study="ONC"),
        entry("b", "2026-01-01T00:00:00Z", study="CV"),
    )
    outcomes = feed(
        engine,
        snapshot("p1", "2026-01-01T02:00:00Z", "2026-01-01T01:00:00Z", "safety", study="ONC"),
        snapshot("p2", "2026-01-01T02:00:00Z", "2026-01-01T01:00:00Z", "safety", study="CV"),
    )
    assert outcomes == [ACCEPTED, UNKNOWN_DASHBOARD]
    assert engine.counters.unknown_dashboard == 1
    # Each publish elsewhere counts (report.json's unknown_dashboard adds them up).
    later = snapshot("p3", "2026-01-01T02:30:00Z", "2026-01-01T01:00:00Z", "safety", study="CV")
    assert feed(engine, later) == [UNKNOWN_DASHBOARD]
    assert engine.counters.unknown_dashboard == 2
    snap = engine.snapshot(t("2026-01-01T03:00:00Z"))
    onc, cv = snap.studies["ONC"].dashboards, snap.studies["CV"].dashboards
    assert sorted(onc) == ["default", "safety"] and sorted(cv) == ["default"]
    # The entry is pending against each dashboard of its study until published there.
    assert (onc["safety"].backlog.pending, onc["safety"].latency.max_us) == (0, 2 * H)
    assert (onc["default"].backlog.pending, onc["default"].latency.count) == (1, 0)
    assert (cv["default"].backlog.pending, cv["default"].latency.count) == (1, 0)


# -- coverage -----------------------------------------------------------------------


def test_a_snapshot_covers_its_studys_entries_up_to_and_including_the_cutoff():
    engine = run(
        entry("early", "2026-01-01T08:00:00Z", "c"),
        entry("at", "2026-01-01T10:00:00Z", "a"),
        entry("after", "2026-01-01T10:00:00.000001Z", "b"),
        entry("other-study", "2026-01-01T09:00:00Z", "c", study="X"),
        snapshot("p", "2026-01-01T12:00:00Z", "2026-01-01T10:00:00Z"),
    )
    f = dash(engine, "2026-01-01T12:00:00Z")
    assert (f.latency.count, f.latency.p50_us, f.latency.max_us) == (2, 2 * H, 4 * H)
    assert (f.backlog.pending, f.backlog.oldest_age_us) == (1, 2 * H - 1)
    assert dash(engine, "2026-01-01T12:00:00Z", study="X").backlog.pending == 1


def test_a_record_publish_covers_its_records_entered_up_to_its_time():
    engine = run(
        entry("first", "2026-01-01T00:00:00Z", "r1"),
        entry("same-instant", "2026-01-01T06:00:00Z", "r1"),
        entry("not-named", "2026-01-01T01:00:00Z", "r2"),
        records("p", "2026-01-01T06:00:00Z", ["r1", "r1"]),
        entry("update-after", "2026-01-01T07:00:00Z", "r1"),  # an update is a new entry
    )
    f = dash(engine, "2026-01-02T00:00:00Z")
    assert (f.latency.count, f.latency.p50_us, f.latency.max_us) == (2, 0, 6 * H)
    assert (f.backlog.pending, f.backlog.oldest_age_us) == (2, 23 * H)


def test_latency_is_measured_to_the_earliest_covering_publish_whatever_the_arrival_order():
    engine = run(
        entry("e", "2026-01-01T00:00:00Z"),
        snapshot("p2", "2026-01-01T09:00:00Z", "2026-01-01T08:00:00Z"),
        records("p1", "2026-01-01T03:00:00Z", ["r1"]),
        snapshot("p3", "2026-01-01T05:00:00Z", "2026-01-01T04:00:00Z"),
    )
    assert dash(engine, "2026-01-02T00:00:00Z").latency.max_us == 3 * H
    # As of an instant before the earliest publish, no publish exists yet.
    before = dash(engine, "2026-01-01T02:59:59Z")
    assert (before.latency.count, before.backlog.pending) == (0, 1)


# -- backlog and SLA ----------------------------------------------------------------


def test_backlog_counts_pending_oldest_and_overdue_against_each_studys_sla():
    # Ages as of 2026-01-03T00:00Z: 30 h, 13 h, exactly the 12 h SLA of FAST, and 1 h.
    entered = ("2026-01-01T18:00:00Z", "2026-01-02T11:00:00Z", "2026-01-02T12:00:00Z",
               "2026-01-02T23:00:00Z")  # fmt: skip
    messages = [
        entry(f"{study}-{i}", at, f"r{i}", study=study)
        for study in ("FAST", "SLOW")
        for i, at in enumerate(entered)
    ]
    engine = run(*messages, studies={"FAST": StudyConfig(sla_us=12 * H)})
    fast = dash(engine, "2026-01-03T00:00:00Z", study="FAST").backlog
    slow = dash(engine, "2026-01-03T00:00:00Z", study="SLOW").backlog
    assert (fast.pending, fast.oldest_age_us, fast.overdue) == (4, 30 * H, 2)
    assert (slow.pending, slow.oldest_age_us, slow.overdue) == (4, 30 * H, 1)
    feed(engine, snapshot("p", "2026-01-03T00:00:00Z", "2026-01-03T00:00:00Z", study="FAST"))
    emptied = dash(engine, "2026-01-03T00:00:00Z", study="FAST").backlog
    assert (emptied.pending, emptied.oldest_age_us, emptied.overdue) == (0, None, 0)


def test_within_sla_counts_latencies_up_to_and_including_the_sla():
    engine = run(
        entry("exactly", "2026-01-01T00:00:00Z", "a"),
        entry("just-over", "2025-12-31T23:59:59.999999Z", "b"),
        entry("well-within", "2026-01-01T23:00:00Z", "c"),
        snapshot("p", "2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z"),
    )
    f = dash(engine, "2026-01-02T00:00:00Z").latency
    assert (f.count, f.within_sla, f.max_us) == (3, 2, DAY + US)


# -- percentiles --------------------------------------------------------------------


def test_nearest_rank_is_exact_integer_arithmetic_beyond_a_thousand_values():
    # p99 of 1,099 values: rank ⌈0.99 · 1099⌉ = ⌈1088.01⌉ = 1089, the value 1088 here.
    assert nearest_rank(list(range(1099)), 99) == 1088
    assert nearest_rank(list(range(20)), 95) == 18  # rank 19 exactly, not 20


def test_dashboard_percentiles_are_nearest_rank():
    # Twenty entries published 1, 2, ..., 20 minutes after entry.
    messages = [entry(f"e{k}", "2026-01-01T00:00:00Z", f"r{k}") for k in range(1, 21)]
    messages += [records(f"p{k}", f"2026-01-01T00:{k:02d}:00Z", [f"r{k}"]) for k in range(1, 21)]
    f = dash(run(*messages), "2026-01-01T01:00:00Z").latency
    # p95 of 20 values is the 19th (rank ⌈0.95 · 20⌉ = 19), not an interpolation.
    assert (f.count, f.p50_us, f.p95_us, f.p99_us, f.max_us) == (
        20,
        10 * MIN,
        19 * MIN,
        20 * MIN,
        20 * MIN,
    )
    nothing = dash(run(entry("e", "2026-01-01T00:00:00Z")), "2026-01-01T01:00:00Z").latency
    assert (nothing.count, nothing.p50_us, nothing.p95_us, nothing.max_us) == (0, None, None, None)


def test_nearest_rank_definition():
    twenty = list(range(1, 21))
    assert [nearest_rank(twenty, p) for p in (50, 95, 99)] == [10, 19, 20]
    seven = list(range(1, 8))
    assert [nearest_rank(seven, p) for p in (50, 95, 99)] == [4, 7, 7]
    assert nearest_rank([7], 1) == 7
    assert nearest_rank([], 50) is None


# -- queries ------------------------------------------------------------------------


def test_query_state_machine_with_a_reopening_that_resets_the_age():
    engine = run(
        query("1", "Q", "opened", "2026-01-01T00:00:00Z"),
        query("2", "Q", "answered", "2026-01-02T00:00:00Z"),
        query("3", "Q", "closed", "2026-01-03T00:00:00Z"),
        query("4", "Q", "answered", "2026-01-04T00:00:00Z"),  # on a closed query: no effect
        query("5", "Q", "opened", "2026-01-10T00:00:00Z"),  # reopened
        query("6", "Q", "cancelled", "2026-01-11T00:00:00Z"),
    )
    site = open_queries(engine, "2026-01-01T12:00:00Z")
    assert (site.awaiting_site, site.awaiting_dm, site.oldest_open_age_us) == (1, 0, 12 * H)
    dm = open_queries(engine, "2026-01-02T12:00:00Z")  # age still counts from the opening
    assert (dm.awaiting_site, dm.awaiting_dm, dm.oldest_open_age_us) == (0, 1, 36 * H)
    assert open_queries(engine, "2026-01-05T00:00:00Z").open == 0
    reopened = open_queries(engine, "2026-01-10T06:00:00Z")
    assert (reopened.awaiting_site, reopened.oldest_open_age_us) == (1, 6 * H)
    assert open_queries(engine, "2026-01-11T00:00:00Z").open == 0
    assert engine.snapshot(t("2026-01-12T00:00:00Z")).orphan_query_events == 0


def test_an_opening_of_an_open_query_restarts_its_age():
    engine = run(
        query("1", "Q", "opened", "2026-01-01T00:00:00Z"),
        query("2", "Q", "answered", "2026-01-02T00:00:00Z"),
        query("3", "Q", "opened", "2026-01-03T00:00:00Z"),
    )
    q = open_queries(engine, "2026-01-04T00:00:00Z")
    assert (q.awaiting_site, q.awaiting_dm, q.oldest_open_age_us) == (1, 0, DAY)


def test_query_events_at_the_same_instant_apply_in_arrival_order():
    opened_then_closed = run(
        query("1", "Q", "opened", "2026-01-01T10:00:00Z"),
        query("2", "Q", "closed", "2026-01-01T10:00:00+00:00"),
    )
    closed_then_opened = run(
        query("2", "Q", "closed", "2026-01-01T10:00:00Z"),
        query("1", "Q", "opened", "2026-01-01T11:00:00+01:00"),
    )
    assert open_queries(opened_then_closed, "2026-01-02T00:00:00Z").open == 0
    assert open_queries(closed_then_opened, "2026-01-02T00:00:00Z").awaiting_site == 1
    assert closed_then_opened.snapshot(t("2026-01-02T00:00:00Z")).orphan_query_events == 1


def test_aging_buckets_include_their_upper_edge():
    opened = [
        "2026-01-24T00:00:00Z",  # exactly 7 days before T → 0-7d
        "2026-01-23T23:59:59.999999Z",  # 7 days and 1 µs → 8-14d
        "2026-01-17T00:00:00Z",  # exactly 14 days → 8-14d
        "2026-01-16T23:59:59.999999Z",  # → 15-30d
        "2026-01-01T00:00:00Z",  # exactly 30 days → 15-30d
        "2025-12-31T23:59:59.999999Z",  # → >30d
    ]
    engine = run(*(query(f"o{i}", f"Q{i}", "opened", at) for i, at in enumerate(opened)))
    feed(engine, query("a", "Q5", "answered", "2026-01-20T00:00:00Z"))
    q = open_queries(engine, "2026-01-31T00:00:00Z")
    assert q.aging == (1, 2, 2, 1)
    assert q.aging_by_state == ((1, 2, 2, 0), (0, 0, 0, 1))
    assert q.oldest_open_age_us == 30 * DAY + US


def test_query_events_with_no_opening_are_orphans_and_ignored():
    engine = run(
        query("1", "Q", "answered", "2026-01-01T00:00:00Z"),
        query("2", "Q", "closed", "2026-01-02T00:00:00Z"),
        query("3", "Q", "opened", "2026-01-03T00:00:00Z"),
        query("4", "Q-never", "cancelled", "2026-01-03T00:00:00Z"),
    )
    before = engine.snapshot(t("2026-01-02T12:00:00Z"))
    assert (before.orphan_query_events, before.studies["S"].queries.open) == (2, 0)
    after = engine.snapshot(t("2026-01-04T00:00:00Z"))
    assert after.orphan_query_events == 3
    assert (
        after.studies["S"].queries.awaiting_site,
        after.studies["S"].queries.oldest_open_age_us,
    ) == (1, DAY)


# -- windows ------------------------------------------------------------------------


def test_windows_are_aligned_to_utc_midnight_and_the_last_one_is_incomplete():
    engine = run(
        entry("a", "2026-01-02T01:00:00+02:00", "a"),  # Jan 2 locally, Jan 1 23:00 in UTC
        entry("b", "2026-01-02T10:00:00Z", "b"),
    )
    windows = tumbling_windows(engine, t("2026-01-02T12:00:00Z"), DAY)
    assert [(w.start_us, w.end_us, w.complete) for w in windows] == [
        (t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z"), True),
        (t("2026-01-02T00:00:00Z"), t("2026-01-03T00:00:00Z"), False),
    ]
    first, last = (w.studies["S"].dashboards["default"].backlog for w in windows)
    assert (first.pending, first.oldest_age_us) == (1, 1 * H)  # as at midnight
    assert (last.pending, last.oldest_age_us) == (2, 13 * H)  # as at T, not the window end


def test_window_latency_goes_to_the_window_of_the_publish_and_backlog_is_as_at_its_end():
    engine = run(
        entry("a", "2026-01-01T10:00:00Z", "a"),
        entry("b", "2026-01-01T20:00:00Z", "b"),
        snapshot("p1", "2026-01-02T00:00:00Z", "2026-01-01T12:00:00Z"),  # exactly at midnight
        records("p2", "2026-01-03T06:00:00Z", ["b"]),
        query("q1", "Q", "opened", "2026-01-01T12:00:00Z"),
        query("q2", "Q", "answered", "2026-01-02T12:00:00Z"),
        query("q3", "Q", "closed", "2026-01-03T01:00:00Z"),
    )
    windows = tumbling_windows(engine, t("2026-01-03T12:00:00Z"), DAY)
    assert [w.complete for w in windows] == [True, True, False]
    day1, day2, day3 = (w.studies["S"].dashboards["default"] for w in windows)
    # Jan 1: nothing published yet; at midnight a is published (that instant counts), b pending.
    assert (day1.latency.count, day1.backlog.pending, day1.backlog.oldest_age_us) == (0, 1, 4 * H)
    # Jan 2: a's publish at 00:00 falls here; b is 28 h old at the window's end: overdue.
    assert (day2.latency.count, day2.latency.max_us) == (1, 14 * H)
    assert (day2.backlog.pending, day2.backlog.oldest_age_us, day2.backlog.overdue) == (
        1,
        28 * H,
        1,
    )
    # Jan 3 (as at T): b published at 06:00 after 34 h, over the SLA.
    assert (day3.latency.count, day3.latency.max_us, day3.latency.within_sla) == (1, 34 * H, 0)
    assert (day3.backlog.pending, day3.backlog.oldest_age_us) == (0, None)
    q1, q2, q3 = (w.studies["S"].queries for w in windows)
    assert (q1.awaiting_site, q1.oldest_open_age_us, q1.aging_by_state) == (
        1,
        12 * H,
        ((1, 0, 0, 0), (0, 0, 0, 0)),
    )
    assert (q2.awaiting_dm, q2.oldest_open_age_us, q2.aging_by_state) == (
        1,
        36 * H,
        ((0, 0, 0, 0), (1, 0, 0, 0)),
    )
    assert (q3.open, q3.oldest_open_age_us, q3.aging) == (0, None, (0, 0, 0, 0))


def test_window_size_is_configurable_and_T_on_a_boundary_opens_a_new_window():
    engine = run(entry("a", "2026-01-01T03:00:00Z"))
    windows = tumbling_windows(engine, t("2026-01-01T12:00:00Z"), 6 * H)
    assert [(w.start_us, w.complete) for w in windows] == [
        (t("2026-01-01T00:00:00Z"), True),
        (t("2026-01-01T06:00:00Z"), True),
        (t("2026-01-01T12:00:00Z"), False),
    ]
    ages = [w.studies["S"].dashboards["default"].backlog.oldest_age_us for w in windows]
    assert ages == [3 * H, 9 * H, 9 * H]
    assert tumbling_windows(engine, t("2026-01-01T02:59:59Z"), 6 * H) == []


# -- named cases ----------------------------------------------------------------------


def test_out_of_order_arrival_across_the_three_event_types():
    in_order = [
        entry("e", "2026-01-01T01:00:00Z"),
        query("qo", "Q", "opened", "2026-01-01T02:00:00Z"),
        snapshot("p", "2026-01-01T04:00:00Z", "2026-01-01T03:00:00Z"),
        query("qa", "Q", "answered", "2026-01-01T05:00:00Z"),
    ]
    reversed_arrival = run(*reversed(in_order))
    snap = reversed_arrival.snapshot(t("2026-01-01T06:00:00Z"))
    assert snap.studies["S"].dashboards["default"].latency.max_us == 3 * H
    assert (snap.studies["S"].queries.awaiting_dm, snap.orphan_query_events) == (1, 0)
    assert snap == run(*in_order).snapshot(t("2026-01-01T06:00:00Z"))


def test_a_publish_that_arrives_before_the_entries_it_covers():
    engine = run(
        snapshot("p", "2026-01-01T12:00:00Z", "2026-01-01T11:00:00Z"),
        records("q", "2026-01-01T13:00:00Z", ["r9"]),
        entry("e1", "2026-01-01T10:00:00Z", "r1"),
        entry("e9", "2026-01-01T12:30:00Z", "r9"),
        entry("e2", "2026-01-01T11:30:00Z", "r2"),  # after the cutoff, not named: pending
    )
    f = dash(engine, "2026-01-02T00:00:00Z")
    assert (f.latency.count, f.latency.p50_us, f.latency.max_us) == (2, 30 * MIN, 2 * H)
    assert f.backlog.pending == 1


def test_equal_instants_written_with_different_utc_offsets():
    engine = run(
        entry("a", "2026-01-01T12:00:00+02:00", "a"),  # 10:00Z
        snapshot("p", "2026-01-01T11:00:00Z", "2026-01-01T05:00:00-05:00"),  # cutoff 10:00Z
        entry("b", "2026-01-01T10:30:00Z", "b"),
        records("q", "2026-01-01T11:30:00+01:00", ["b"]),  # 10:30Z: the same instant
    )
    f = dash(engine, "2026-01-01T10:30:00-00:00")  # b is published, a not yet
    assert (f.latency.count, f.latency.p50_us, f.backlog.pending) == (1, 0, 1)
    f = dash(engine, "2026-01-01T13:00:00+02:00")
    assert (f.latency.count, f.latency.max_us) == (2, H)


def test_events_after_the_as_of_time_do_not_exist_yet():
    engine = run(
        entry("e1", "2026-01-01T00:00:00Z", "a"),
        entry("e2", "2026-01-03T00:00:00Z", "b"),
        snapshot("p", "2026-01-04T00:00:00Z", "2026-01-03T00:00:00Z"),
        query("q", "Q", "opened", "2026-01-02T06:00:00Z"),
        entry("x", "2026-01-05T00:00:00Z", study="LATER"),
    )
    snap = engine.snapshot(t("2026-01-02T00:00:00Z"))
    f = snap.studies["S"].dashboards["default"]
    assert (f.latency.count, f.backlog.pending, f.backlog.oldest_age_us) == (0, 1, DAY)
    assert snap.studies["S"].queries.open == 0
    assert sorted(snap.studies) == ["S"]
    assert engine.snapshot(t("2025-12-31T00:00:00Z")).studies == {}


# -- retention ----------------------------------------------------------------------


def _entered(buckets: dict) -> list[int]:
    return sorted(key >> ENTERED_SHIFT for entries in buckets.values() for key in entries)


def test_retention_prunes_what_can_no_longer_change_an_answer_but_never_pending_entries():
    bounded, unbounded = make_engine(retention=2 * DAY), make_engine()
    phase1 = [
        entry("a", "2026-01-01T12:00:00Z", "ra"),  # never published
        entry("b", "2026-01-01T00:00:00Z", "rb"),
        records("pb", "2026-01-01T01:00:00Z", ["rb"]),
        entry("c", "2026-01-01T05:00:00Z", "rc"),  # published only on Jan 4
        snapshot("ps", "2026-01-01T07:00:00Z", "2026-01-01T04:00:00Z"),
        query("q1o", "Q1", "opened", "2026-01-01T02:00:00Z"),
        query("q1c", "Q1", "closed", "2026-01-01T03:00:00Z"),
        query("q2o", "Q2", "opened", "2026-01-01T02:00:00Z"),
    ]
    for engine in (bounded, unbounded):
        feed(engine, *phase1)
    study = bounded.studies["S"]
    ledger = study.dashboards["default"]
    group = ledger.groups[()]
    assert _entered(group.pending) == [t("2026-01-01T05:00:00Z"), t("2026-01-01T12:00:00Z")]
    assert _entered(group.published) == [t("2026-01-01T00:00:00Z")]
    assert sorted(ledger.record_publishes) == ["rb"]
    assert ledger.snapshot_cutoffs == [t("2026-01-01T04:00:00Z")]
    assert len(bounded.event_ids) == 8
    assert sorted(study.queries.queries) == ["Q1", "Q2"]

    # The watermark moves to Jan 4: the horizon is Jan 2, 00:00.
    for engine in (bounded, unbounded):
        feed(engine, records("pc", "2026-01-04T00:00:00Z", ["rc"]))
    assert _entered(group.pending) == [t("2026-01-01T12:00:00Z")]  # pending: never pruned
    # b was published before the horizon: forgotten. c was published after it: kept.
    assert _entered(group.published) == [t("2026-01-01T05:00:00Z")]
    assert sorted(ledger.by_record) == ["ra", "rc"]
    assert sorted(ledger.record_publishes) == ["rc"]
    assert ledger.snapshot_cutoffs == []
    assert len(bounded.event_ids) == 1
    assert sorted(study.queries.queries) == ["Q2"]  # the closed query is gone, the open one stays

    # A publish inside the retention, arriving out of order, still lowers c's latency,
    # and the backlog as of any instant inside the retention is exact.
    for engine in (bounded, unbounded):
        feed(engine, records("pc-early", "2026-01-03T00:00:00Z", ["rc"]))
    for as_of in ("2026-01-02T00:00:00Z", "2026-01-02T12:00:00Z", "2026-01-04T00:00:00Z"):
        assert dash(bounded, as_of).backlog == dash(unbounded, as_of).backlog
        assert open_queries(bounded, as_of) == open_queries(unbounded, as_of)
    tally, full = next(bounded.latency_tallies())[3], next(unbounded.latency_tallies())[3]
    # The sum as first observed (c: 67 h) and the correction apart: counters never decrease.
    assert (tally.count, tally.sum_us - tally.corrected_us) == (2, 1 * H + 43 * H)
    assert (full.count, full.sum_us, full.corrected_us) == (2, 1 * H + 67 * H, 24 * H)
    assert (tally.sum_us, tally.corrected_us) == (full.sum_us, full.corrected_us)
    # Latency figures of a snapshot list the retained entries only; the tally keeps all.
    assert dash(bounded, "2026-01-04T00:00:00Z").latency.count == 1
    assert dash(unbounded, "2026-01-04T00:00:00Z").latency.count == 2
    # A cancellation of the forgotten closed query, inside the retention: an orphan.
    for engine in (bounded, unbounded):
        feed(engine, query("q1x", "Q1", "cancelled", "2026-01-03T12:00:00Z"))
    assert bounded.snapshot(t("2026-01-04T00:00:00Z")).orphan_query_events == 1
    assert unbounded.snapshot(t("2026-01-04T00:00:00Z")).orphan_query_events == 0
    assert bounded.counters.late == 0

    # The watermark moves on to Jan 10: c's publish is behind the horizon now.
    feed(bounded, entry("z", "2026-01-10T00:00:00Z", "rz"))
    assert _entered(group.pending) == [t("2026-01-01T12:00:00Z"), t("2026-01-10T00:00:00Z")]
    assert _entered(group.published) == []
    assert sorted(ledger.by_record) == ["ra", "rz"] and ledger.record_publishes == {}
    assert len(bounded.event_ids) == 1
    assert sorted(study.queries.queries) == ["Q2"]
    backlog = dash(bounded, "2026-01-10T00:00:00Z").backlog
    assert (backlog.pending, backlog.oldest_age_us, backlog.overdue) == (2, 8 * DAY + 12 * H, 1)


def test_data_older_than_the_retention_changes_exactly_the_documented_answers():
    """docs/design.md, "Retention": what a late event does once its context is pruned."""
    bounded, unbounded = make_engine(retention=2 * DAY), make_engine()
    history = [
        entry("b", "2026-01-01T00:00:00Z", "rb"),
        records("pb", "2026-01-01T01:00:00Z", ["rb"]),
        snapshot("ps", "2026-01-01T03:00:00Z", "2026-01-01T02:00:00Z"),
        query("q1o", "Q1", "opened", "2026-01-01T02:00:00Z"),
        query("q1c", "Q1", "closed", "2026-01-01T04:00:00Z"),
        query("q3o", "Q3", "opened", "2026-01-01T06:00:00Z"),
        query("q3c", "Q3", "closed", "2026-01-01T08:00:00Z"),
        entry("now", "2026-01-05T00:00:00Z", "rn"),  # horizon: Jan 3, 00:00
    ]
    late = [
        records("pn", "2026-01-05T01:00:00Z", ["rn"]),  # a recent publish: unaffected
        entry("b", "2026-01-01T00:00:00Z", "rb"),  # a duplicate older than the retention
        entry("b2", "2026-01-01T00:30:00Z", "rb"),  # a late entry of a forgotten publish
        entry("b3", "2026-01-01T01:30:00Z", "rx"),  # a late entry of a forgotten snapshot
        query("q1c2", "Q1", "closed", "2026-01-01T05:00:00Z"),  # of a forgotten closed query
        query("q3o2", "Q3", "opened", "2026-01-01T07:00:00Z"),  # between Q3's open and close
    ]
    for engine in (bounded, unbounded):
        feed(engine, *history)
    assert feed(bounded, *late) == [ACCEPTED] * 6
    assert feed(unbounded, *late)[1] == DUPLICATE
    assert bounded.counters.late == 5

    as_of = "2026-01-05T02:00:00Z"
    exact, approx = dash(unbounded, as_of), dash(bounded, as_of)
    # Unbounded: b2 and b3 published at 01:00 and 03:00; the duplicate ignored.
    assert (exact.backlog.pending, exact.latency.count) == (0, 4)
    # Bounded: the duplicate counts again and, like the two late entries, matches no retained
    # publish, so all three stay pending (and overdue) until a later publish covers them.
    assert (approx.backlog.pending, approx.backlog.overdue) == (3, 3)
    assert approx.backlog.oldest_age_us == 4 * DAY + 2 * H
    # Queries: a late event of a forgotten closed query starts it afresh: a close becomes
    # an orphan, and an opening leaves it open for good (unbounded, Q3 closed at 08:00).
    assert open_queries(unbounded, as_of).open == 0
    assert unbounded.snapshot(t(as_of)).orphan_query_events == 0
    reopened = open_queries(bounded, as_of)
    assert (reopened.awaiting_site, reopened.oldest_open_age_us) == (1, 3 * DAY + 19 * H)
    assert bounded.snapshot(t(as_of)).orphan_query_events == 1
    # Recent data is unaffected.
    assert approx.latency.count == exact.latency.count - 3 == 1

    # Orphan counts cover retained queries: once the watermark moves on, the orphan is
    # forgotten; the open query is not.
    feed(bounded, entry("later", "2026-01-05T02:00:00Z", "rl"))
    assert bounded.snapshot(t(as_of)).orphan_query_events == 0
    assert open_queries(bounded, as_of).awaiting_site == 1


def test_a_late_publish_covers_pending_entries_but_cannot_lower_forgotten_latencies():
    bounded, unbounded = make_engine(retention=2 * DAY), make_engine()
    for engine in (bounded, unbounded):
        feed(
            engine,
            entry("b", "2026-01-01T00:00:00Z", "rb"),
            records("pb", "2026-01-01T01:00:00Z", ["rb"]),
            entry("a", "2026-01-01T00:00:00Z", "ra"),  # pending
            entry("now", "2026-01-05T00:00:00Z", "rn"),  # b is forgotten, a is not
            records("late", "2026-01-01T00:30:00Z", ["ra", "rb"]),
        )
    for engine in (bounded, unbounded):
        assert dash(engine, "2026-01-05T00:00:00Z").backlog.pending == 1  # only "now"
    tally, full = next(bounded.latency_tallies())[3], next(unbounded.latency_tallies())[3]
    assert (full.count, full.sum_us - full.corrected_us) == (2, 30 * MIN + 30 * MIN)
    assert (tally.count, tally.sum_us - tally.corrected_us) == (2, 60 * MIN + 30 * MIN)  # b: 1 h

    # Once the watermark moves on, the late publish is forgotten too.
    for engine in (bounded, unbounded):
        feed(
            engine,
            entry("now2", "2026-01-05T02:00:00Z", "rn2"),
            entry("a2", "2026-01-01T00:10:00Z", "ra"),
        )
    assert dash(unbounded, "2026-01-05T02:00:00Z").backlog.pending == 2
    assert dash(bounded, "2026-01-05T02:00:00Z").backlog.pending == 3
