"""One test per rule of the contract's semantics, and the named cases, read like the contract."""

from __future__ import annotations

import orjson

from schemas import Rejection, parse_event, parse_timestamp_us
from streams import (
    DUPLICATE,
    UNKNOWN_DASHBOARD,
    Engine,
    EngineConfig,
    StudyConfig,
    tumbling_windows,
)
from streams.percentiles import nearest_rank

H = 3_600_000_000
DAY = 24 * H


def t(text: str) -> int:
    return parse_timestamp_us(text)


def entry(eid: str, at: str, record: str = "r1", study: str = "S") -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": eid, "study_id": study, "site_id": "site",
        "subject_id": "subj", "form_id": "f", "record_id": record, "entered_at": at,
    })  # fmt: skip


def snapshot(eid: str, at: str, cutoff: str, dashboard: str = "default", study: str = "S") -> bytes:
    return orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": eid, "study_id": study,
        "published_at": at, "data_cutoff": cutoff, "dashboard": dashboard,
    })  # fmt: skip


def records(eid: str, at: str, ids: list[str], study: str = "S") -> bytes:
    return orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": eid, "study_id": study,
        "published_at": at, "record_ids": ids,
    })  # fmt: skip


def query(eid: str, qid: str, status: str, at: str) -> bytes:
    return orjson.dumps({
        "schema": "edc.query/1", "event_id": eid, "query_id": qid, "study_id": "S",
        "site_id": "site", "status": status, "occurred_at": at,
    })  # fmt: skip


def run(*messages: bytes, sla_h: float = 24, dashboards=("default",), retention=None) -> Engine:
    engine = Engine(
        EngineConfig(
            default_study=StudyConfig(sla_us=int(sla_h * H), dashboards=dashboards),
            retention_us=retention,
        )
    )
    for message in messages:
        event = parse_event(message)
        assert not isinstance(event, Rejection), event
        engine.apply(event)
    return engine


def figures(engine: Engine, as_of: str, dashboard: str = "default"):
    return engine.snapshot(t(as_of)).studies["S"].dashboards[dashboard]


def test_first_occurrence_of_an_event_id_wins_even_when_the_duplicate_differs():
    engine = run(entry("e1", "2026-01-01T00:00:00Z"))
    conflicting = parse_event(entry("e1", "2026-01-01T05:00:00Z", record="other"))
    assert engine.apply(conflicting) == DUPLICATE  # type: ignore[arg-type]
    assert engine.apply(parse_event(entry("e1", "2026-01-01T00:00:00Z"))) == DUPLICATE  # type: ignore[arg-type]
    f = figures(engine, "2026-01-02T00:00:00Z")
    assert f.backlog.pending == 1
    assert f.backlog.oldest_age_us == DAY
    assert engine.counters.duplicates == 2


def test_publish_to_an_unconfigured_dashboard_is_counted_and_ignored():
    engine = run(entry("e1", "2026-01-01T00:00:00Z"))
    outcome = engine.apply(
        parse_event(snapshot("p", "2026-01-01T01:00:00Z", "2026-01-01T00:00:00Z", "ops"))
    )  # type: ignore[arg-type]
    assert outcome == UNKNOWN_DASHBOARD
    assert figures(engine, "2026-01-02T00:00:00Z").backlog.pending == 1


def test_an_entry_is_pending_against_every_configured_dashboard():
    engine = run(
        entry("e1", "2026-01-01T00:00:00Z"),
        snapshot("p", "2026-01-01T02:00:00Z", "2026-01-01T00:00:00Z", "safety"),
        dashboards=("default", "safety"),
    )
    assert figures(engine, "2026-01-01T03:00:00Z", "default").backlog.pending == 1
    assert figures(engine, "2026-01-01T03:00:00Z", "safety").latency.max_us == 2 * H


def test_snapshot_covers_entries_exactly_at_its_cutoff_and_not_after():
    engine = run(
        entry("at", "2026-01-01T10:00:00Z", "a"),
        entry("after", "2026-01-01T10:00:00.000001Z", "b"),
        snapshot("p", "2026-01-01T12:00:00Z", "2026-01-01T10:00:00Z"),
    )
    f = figures(engine, "2026-01-01T12:00:00Z")
    assert (f.latency.count, f.latency.max_us, f.backlog.pending) == (1, 2 * H, 1)


def test_record_publish_covers_only_entries_entered_before_it():
    engine = run(
        entry("old", "2026-01-01T00:00:00Z", "r1"),
        records("p", "2026-01-01T06:00:00Z", ["r1"]),
        entry("revision", "2026-01-01T07:00:00Z", "r1"),  # an update is a new pending entry
    )
    f = figures(engine, "2026-01-02T00:00:00Z")
    assert (f.latency.count, f.latency.max_us, f.backlog.pending) == (1, 6 * H, 1)


def test_latency_is_measured_to_the_earliest_covering_publish_whatever_the_arrival_order():
    late_first = run(
        entry("e", "2026-01-01T00:00:00Z"),
        snapshot("p2", "2026-01-01T09:00:00Z", "2026-01-01T08:00:00Z"),
        records("p1", "2026-01-01T03:00:00Z", ["r1"]),
    )
    assert figures(late_first, "2026-01-02T00:00:00Z").latency.max_us == 3 * H
    # As of a time between the two publishes, only the earlier one exists.
    assert figures(late_first, "2026-01-01T04:00:00Z").latency.max_us == 3 * H
    assert figures(late_first, "2026-01-01T02:00:00Z").backlog.pending == 1


def test_a_publish_that_arrives_before_the_entries_it_covers():
    engine = run(
        snapshot("p", "2026-01-01T12:00:00Z", "2026-01-01T11:00:00Z"),
        records("q", "2026-01-01T13:00:00Z", ["r9"]),
        entry("e1", "2026-01-01T10:00:00Z", "r1"),
        entry("e9", "2026-01-01T12:30:00Z", "r9"),
    )
    f = figures(engine, "2026-01-02T00:00:00Z")
    assert sorted([f.latency.max_us, f.latency.p50_us]) == [30 * 60 * 1_000_000, 2 * H]


def test_out_of_order_arrival_across_the_three_event_types():
    messages = [
        query("qa", "Q", "answered", "2026-01-01T05:00:00Z"),
        snapshot("p", "2026-01-01T04:00:00Z", "2026-01-01T03:00:00Z"),
        entry("e", "2026-01-01T01:00:00Z"),
        query("qo", "Q", "opened", "2026-01-01T02:00:00Z"),
    ]
    engine = run(*messages)
    snap = engine.snapshot(t("2026-01-01T06:00:00Z"))
    assert snap.studies["S"].dashboards["default"].latency.max_us == 3 * H
    assert snap.studies["S"].queries.awaiting_dm == 1
    assert snap.orphan_query_events == 0


def test_backlog_pending_oldest_and_overdue_against_the_study_sla():
    engine = run(
        entry("a", "2026-01-01T00:00:00Z", "a"),
        entry("b", "2026-01-01T10:00:00Z", "b"),
        entry("c", "2026-01-01T11:00:00Z", "c"),
        sla_h=12,
    )
    f = figures(engine, "2026-01-01T22:00:00Z")
    # a is 22 h old (> 12 h SLA), b is 12 h old (not *older* than the SLA), c is 11 h old.
    assert (f.backlog.pending, f.backlog.oldest_age_us, f.backlog.overdue) == (3, 22 * H, 1)


def test_within_sla_includes_latency_exactly_at_the_sla():
    engine = run(
        entry("a", "2026-01-01T00:00:00Z", "a"),
        entry("b", "2025-12-31T23:59:59Z", "b"),
        snapshot("p", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
    )
    f = figures(engine, "2026-01-02T00:00:00Z")
    assert (f.latency.count, f.latency.within_sla) == (2, 1)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 21))
    assert nearest_rank(values, 95) == 19
    assert nearest_rank(values, 50) == 10
    assert nearest_rank(values, 99) == 20
    assert nearest_rank([], 50) is None
    assert nearest_rank([7], 1) == 7


def test_events_after_the_as_of_time_do_not_exist_yet():
    engine = run(
        entry("e1", "2026-01-01T00:00:00Z", "a"),
        entry("e2", "2026-01-03T00:00:00Z", "b"),
        snapshot("p", "2026-01-04T00:00:00Z", "2026-01-03T00:00:00Z"),
    )
    f = figures(engine, "2026-01-02T00:00:00Z")
    assert (f.latency.count, f.backlog.pending, f.backlog.oldest_age_us) == (0, 1, DAY)
    assert "S" not in engine.snapshot(t("2025-12-31T00:00:00Z")).studies


def test_query_states_reopening_and_aging_buckets():
    engine = run(
        query("1", "Q1", "opened", "2026-01-01T00:00:00Z"),
        query("2", "Q1", "answered", "2026-01-02T00:00:00Z"),
        query("3", "Q1", "closed", "2026-01-03T00:00:00Z"),
        query("4", "Q1", "opened", "2026-01-10T00:00:00Z"),  # reopened: ages from here
        query("5", "Q2", "opened", "2026-01-01T00:00:00Z"),
        query("6", "Q2", "cancelled", "2026-01-01T01:00:00Z"),
        query("7", "Q3", "opened", "2025-12-10T00:00:00Z"),
        query("8", "Q3", "answered", "2025-12-11T00:00:00Z"),
    )
    q = engine.snapshot(t("2026-01-17T00:00:00Z")).studies["S"].queries
    assert (q.awaiting_site, q.awaiting_dm, q.open) == (1, 1, 2)
    assert q.oldest_open_age_us == 38 * DAY
    assert q.aging == (1, 0, 0, 1)  # Q1 exactly 7 days old → 0-7d; Q3 38 days → >30d


def test_aging_bucket_edges_are_inclusive():
    opened = [("a", "2026-01-24T00:00:00Z"), ("b", "2026-01-17T00:00:00Z"), ("c", "2026-01-01T00:00:00Z"),
              ("d", "2025-12-31T23:59:59Z")]  # fmt: skip
    engine = run(*(query(q, q, "opened", at) for q, at in opened))
    # As of Jan 31: ages exactly 7 d, 14 d, 30 d, and just over 30 d.
    assert engine.snapshot(t("2026-01-31T00:00:00Z")).studies["S"].queries.aging == (1, 1, 1, 1)


def test_query_events_with_no_opening_are_orphans():
    engine = run(
        query("1", "Q", "answered", "2026-01-01T00:00:00Z"),
        query("2", "Q", "closed", "2026-01-02T00:00:00Z"),
        query("3", "Q", "opened", "2026-01-03T00:00:00Z"),
    )
    assert engine.snapshot(t("2026-01-02T12:00:00Z")).orphan_query_events == 2
    later = engine.snapshot(t("2026-01-04T00:00:00Z"))
    assert (later.orphan_query_events, later.studies["S"].queries.awaiting_site) == (2, 1)


def test_windows_are_daily_from_utc_midnight_with_the_last_one_incomplete():
    engine = run(
        entry("a", "2026-01-01T22:00:00+02:00", "a"),  # 20:00Z on Jan 1
        snapshot("p", "2026-01-02T03:00:00Z", "2026-01-01T23:00:00Z"),
        entry("b", "2026-01-02T10:00:00Z", "b"),
    )
    windows = tumbling_windows(engine, t("2026-01-02T12:00:00Z"), DAY)
    assert [(w.start_us, w.complete) for w in windows] == [
        (t("2026-01-01T00:00:00Z"), True),
        (t("2026-01-02T00:00:00Z"), False),
    ]
    day1, day2 = (w.studies["S"].dashboards["default"] for w in windows)
    assert (day1.latency.count, day1.backlog.pending) == (0, 1)  # published on day 2
    assert (day2.latency.count, day2.latency.max_us, day2.backlog.pending) == (1, 7 * H, 1)


def test_retention_prunes_published_state_but_never_pending_entries():
    engine = run(
        entry("old-pending", "2026-01-01T00:00:00Z", "x"),
        entry("old-published", "2026-01-01T00:00:00Z", "y"),
        records("p", "2026-01-01T01:00:00Z", ["y"]),
        entry("new", "2026-01-20T00:00:00Z", "z"),
        retention=7 * DAY,
    )
    ledger = engine.studies["S"].dashboards["default"]
    assert "y" not in ledger.by_record and "y" not in ledger.record_publishes
    assert "x" in ledger.by_record
    assert "old-published" not in engine.event_ids.seen
    f = figures(engine, "2026-01-20T00:00:00Z")
    assert (f.backlog.pending, f.backlog.oldest_age_us) == (2, 19 * DAY)
    # Documented consequence: a duplicate older than the retention counts again.
    from streams import ACCEPTED

    assert (
        engine.apply(parse_event(entry("old-published", "2026-01-01T00:00:00Z", "y"))) == ACCEPTED
    )  # type: ignore[arg-type]
    assert engine.counters.late == 1
