"""Pruning by filed hours (streams/expiry.py) forgets exactly what scanning everything did.

Each pruning used to scan every retained hour, record, query and event id for what fell
behind the horizon; it now takes the hours that leave the horizon off heaps the engine
files as events come (built at the first pruning, so a restored engine builds its own).
The reference below is the scanning pruning as it was, applied to a copy of the same
engine: after any arrivals (which prune on their own as the horizon moves) and at any
horizon, on and either side of whole hours, both must leave the same state.
"""

from __future__ import annotations

from bisect import bisect_left

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, PublishEvent, QueryEvent, StageEvent, format_timestamp
from streams import Engine
from streams.latency import DashboardLedger
from streams.queries import CLOSED, NEVER_OPENED
from streams.stages import Pipeline
from tests.streams.strategies import (
    BASE,
    DAY,
    HOUR,
    engine_config,
    entries,
    publishes,
    query_events,
)
from tests.streams.test_rules import entry, feed, query, records
from tests.streams.test_stages import staged_arrivals, staged_config

# Entries with visit dates too (the visit to entry's hours are pruned as well): days around
# the entries' own, so some are entered before their visit date.
visit_dates = st.builds(lambda day: format_timestamp(BASE + day * DAY)[:10], st.integers(-1, 42))
dated_entries = st.builds(
    lambda entry, date: msgspec.structs.replace(entry, visit_date=date), entries(), visit_dates
)
arrivals = st.lists(st.one_of(entries(), dated_entries, publishes(), query_events()), max_size=40)


def _scan_prune(engine: Engine, base: int, horizon: int) -> None:
    """Engine._prune as it was before filed hours: every pruning scans everything retained."""
    engine._pruned_at_us = base
    ids = engine.event_ids
    for hour in [h for h in ids.by_hour if (h + 1) * HOUR <= horizon]:
        for event_id in ids.by_hour.pop(hour):
            del ids.seen[event_id]
        if hour == ids.hour:
            ids.hour, ids.hour_ids = None, []
    clock = engine.deadline_clock()
    for study in engine.studies.values():
        for ledger in study.dashboards.values():
            for group in ledger.groups.values():
                for bucket in [
                    b
                    for b in group.published
                    if (b + 1) * HOUR <= horizon and group.max_published[b] <= horizon
                ]:
                    keys = group.published.pop(bucket)
                    del group.max_published[bucket]
                    for record_id in group.published_records.pop(bucket):
                        ledger._unindex(record_id, keys)
            _scan_publishes(ledger, horizon)
            if clock is not None:
                ledger.freshness.compact(clock)
        for name, pipeline in study.pipelines.items():
            _scan_prune_stages(pipeline, horizon, study.dashboards[name])
            if clock is not None:
                for stage_ledger in pipeline.ledgers:
                    stage_ledger.freshness.compact(clock)
        queries = study.queries.queries
        for query_id in [
            q
            for q, tracked in queries.items()
            if tracked.last_us < horizon and tracked.state in (CLOSED, NEVER_OPENED)
        ]:
            del queries[query_id]
        visits = study.visits
        for hours in (visits.before_hours, *(group.hours for group in visits.groups.values())):
            for hour in [h for h in hours if (h + 1) * HOUR <= horizon]:
                del hours[hour]


def _scan_publishes(ledger: DashboardLedger, horizon: int) -> None:
    """DashboardLedger.prune_publishes as it was: every record with publish times, each time."""
    keep = bisect_left(ledger.snapshot_cutoffs, horizon)
    del ledger.snapshot_cutoffs[:keep], ledger.snapshot_times[:keep]
    for record_id in list(ledger.record_publishes):
        times = ledger.record_publishes[record_id]
        if isinstance(times, int):
            if times >= horizon:
                continue
        else:
            keep = bisect_left(times, horizon)
            if keep < len(times) - 1:
                del times[:keep]
                continue
            if keep == len(times) - 1:
                ledger.record_publishes[record_id] = times[-1]
                continue
        del ledger.record_publishes[record_id]
        if ledger.by_record[record_id] == ():
            del ledger.by_record[record_id]


def _scan_prune_stages(pipeline: Pipeline, horizon: int, dashboard: DashboardLedger) -> None:
    """Pipeline.prune as it was: every hour of every stage ledger, each time."""
    retained: set[int] = set()
    for group in dashboard.groups.values():
        retained.update(group.pending)
        retained.update(group.published)
    for ledger in pipeline.ledgers:
        for group in ledger.group_list:
            for hour in [
                h for h in group.published if (h + 1) * HOUR <= horizon and h not in retained
            ]:
                keys = group.published.pop(hour)
                del group.max_published[hour]
                for record_id in group.published_records.pop(hour):
                    ledger._unindex(record_id, keys)
            for hour in [
                h for h in group.pending if (h + 1) * HOUR <= horizon and h not in retained
            ]:
                waiting = group.pending.pop(hour)
                for record_id in waiting.values():
                    ledger._unindex(record_id, waiting)
        _scan_publishes(ledger, horizon)


class ScanningEngine(Engine):
    """The engine with the scanning pruning, wherever it prunes (as events move the horizon)."""

    def _prune(self, base: int, horizon: int) -> None:
        _scan_prune(self, base, horizon)


@settings(max_examples=300, deadline=None)
@given(
    arrivals,
    st.sampled_from([6 * HOUR, DAY, 3 * DAY]),
    st.sampled_from([(), ("site",)]),
    st.data(),
)
def test_pruning_by_filed_hours_leaves_what_scanning_everything_left(
    events, retention, breakdown, data
):
    config = engine_config(retention_us=retention, breakdown=breakdown)
    filed, scanned = Engine(config), ScanningEngine(config)
    # Horizons where it matters: on an event's instant or its hour's start (a whole hour),
    # and a microsecond either side; in any order (a new input can hold the horizon back).
    instants = sorted({t for e in events for t in (e.time_us, e.time_us // HOUR * HOUR)})
    horizons = st.builds(
        lambda t, side: t + side, st.sampled_from(instants or [BASE]), st.sampled_from([-1, 0, 1])
    )
    for event in events:  # each prunes on its own as the horizon moves
        assert filed.apply(event) == scanned.apply(event)
        for horizon in data.draw(st.lists(horizons, max_size=2)):  # and between arrivals
            filed._prune(horizon + retention, horizon)
            scanned._prune(horizon + retention, horizon)
        assert filed.to_state() == scanned.to_state()


# -- what a pruning's filing must catch that arrivals seldom draw --------------------------

T0 = 1_767_571_200_000_000  # 2026-01-05T00:00:00Z


def _at(hours: float) -> str:
    return format_timestamp(T0 + int(hours * HOUR))


def _pair() -> tuple[Engine, Engine]:
    config = engine_config(retention_us=DAY)
    return Engine(config), ScanningEngine(config)


def _feed_and_prune(engines: tuple[Engine, Engine], *steps: bytes | int) -> None:
    """Feed messages to both engines; an int prunes both at that horizon."""
    for step in steps:
        for engine in engines:
            if isinstance(step, int):
                engine._prune(step + DAY, step)
            else:
                feed(engine, step)
        assert engines[0].to_state() == engines[1].to_state()


def test_a_query_closed_by_a_late_event_after_a_pruning_kept_it_open_is_forgotten():
    engines = _pair()
    _feed_and_prune(
        engines,
        query("q1", "Q", "opened", _at(0)),
        query("q2", "Q", "answered", _at(2)),
        T0 + 3 * HOUR,  # quiet since before the horizon, but open: kept
        query("q3", "Q", "closed", _at(1)),  # late: closes it, its last event stays at 2 h
        T0 + 3 * HOUR,
    )
    assert "Q" not in engines[0].studies["S"].queries.queries


def test_an_entry_published_on_arrival_after_a_pruning_is_forgotten_with_its_hour():
    engines = _pair()
    _feed_and_prune(
        engines,
        records("p1", _at(5), ["r1"]),
        entry("e0", _at(10), "r2"),  # pending: its group's published hours are filed (none)
        T0,
        entry("e1", _at(1), "r1"),  # covered by the earlier publish: published as it arrives
        T0 + 6 * HOUR,  # its hour and its publish are both before the horizon
    )
    assert all(
        not g.published for g in engines[0].studies["S"].dashboards["default"].groups.values()
    )


def test_visit_hours_filed_after_a_pruning_are_forgotten_with_the_rest():
    def dated(eid: str, at: str) -> bytes:
        return orjson.dumps({**orjson.loads(entry(eid, at)), "visit_date": "2026-01-05"})

    engines = _pair()
    _feed_and_prune(
        engines,
        dated("e1", _at(1)),
        T0,  # files the visit hours: 1 h
        dated("e2", _at(2)),  # a new hour, filed when next read
        T0 + 4 * HOUR,
    )
    groups = engines[0].studies["S"].visits.groups.values()
    assert groups and all(not group.hours for group in groups)


@settings(max_examples=150, deadline=None)
@given(staged_arrivals, st.sampled_from([6 * HOUR, DAY]), st.data())
def test_pruning_stage_ledgers_by_filed_hours_leaves_what_scanning_everything_left(
    events, retention, data
):
    config = staged_config(retention_us=retention)
    filed, scanned = Engine(config), ScanningEngine(config)
    instants = sorted({t for e in events for t in (e.time_us, e.time_us // HOUR * HOUR)})
    horizons = st.builds(
        lambda t, side: t + side, st.sampled_from(instants or [BASE]), st.sampled_from([-1, 0, 1])
    )
    for event in events:
        assert filed.apply(event) == scanned.apply(event)
        for horizon in data.draw(st.lists(horizons, max_size=2)):
            filed._prune(horizon + retention, horizon)
            scanned._prune(horizon + retention, horizon)
        assert filed.to_state() == scanned.to_state()


def test_a_record_published_at_the_horizon_is_kept_and_forgotten_at_the_next_hour():
    engines = _pair()
    _feed_and_prune(
        engines,
        entry("e0", _at(0), "r0"),
        T0,  # files the publish hours from now on
        records("p1", _at(5), ["r1"]),  # a whole hour: filed under hour 5, not 4
        T0 + 5 * HOUR,  # published at the horizon, not before it: kept
        T0 + 6 * HOUR,
    )
    assert "r1" not in engines[0].studies["S"].dashboards["default"].record_publishes


def _restored_pair(*messages: bytes) -> tuple[Engine, Engine]:
    """Both engines restored from a checkpoint's state of these messages: nothing filed yet."""
    config = engine_config(retention_us=DAY)
    source = Engine(config)
    feed(source, *messages)
    state = orjson.loads(orjson.dumps(source.to_state()))
    return Engine.from_state(config, state), ScanningEngine.from_state(config, state)


def test_a_record_published_earlier_in_the_horizon_s_own_hour_is_forgotten():
    publish = records("p1", _at(1.5), ["r1"])
    filed_as_it_came = _pair()
    _feed_and_prune(filed_as_it_came, entry("e0", _at(0), "r0"), T0, publish, T0 + 7 * HOUR // 4)
    restored = _restored_pair(publish)  # filed by its first pruning
    _feed_and_prune(restored, T0 + 7 * HOUR // 4)
    for engines in (filed_as_it_came, restored):
        assert "r1" not in engines[0].studies["S"].dashboards["default"].record_publishes


def test_a_query_closed_earlier_in_the_horizon_s_own_hour_is_forgotten():
    opened, closed = query("q1", "Q", "opened", _at(0.5)), query("q2", "Q", "closed", _at(1.5))
    filed_as_it_came = _pair()
    _feed_and_prune(
        filed_as_it_came,
        entry("e0", _at(0)),
        T0,
        opened,
        T0 + HOUR,  # open: dropped from the filing, filed again by its next event
        closed,
        T0 + 7 * HOUR // 4,
    )
    restored = _restored_pair(opened, closed)  # filed by its first pruning
    _feed_and_prune(restored, T0 + 7 * HOUR // 4)
    for engines in (filed_as_it_came, restored):
        assert engines[0].studies["S"].queries.queries == {}


def test_two_queries_quiet_since_the_same_hour_are_both_forgotten():
    engines = _pair()
    _feed_and_prune(
        engines,
        entry("e0", _at(0)),
        T0,  # files the queries' hours from now on
        query("q1", "Q1", "opened", _at(1)),
        query("q2", "Q1", "closed", _at(1.25)),
        query("q3", "Q2", "opened", _at(1.5)),
        query("q4", "Q2", "closed", _at(1.75)),  # the same hour as Q1's last event
        T0 + 3 * HOUR,
    )
    assert engines[0].studies["S"].queries.queries == {}


T9 = 253_402_128_000_000_000  # 9999-12-30T00:00:00Z: event times this large lose µs as floats


def test_at_the_calendar_s_end_an_hour_ending_at_the_horizon_goes_and_not_a_microsecond_before():
    config = staged_config(retention_us=DAY)
    filed, scanned = Engine(config), ScanningEngine(config)
    hour_1 = [
        _staged_entry("e1", "r1", T9 + HOUR, visit_date="9999-12-30"),
        _staged_entry("e2", "r2", T9 + HOUR + 1),  # stays pending
        StageEvent(
            event_id="s1",
            study_id="S1",
            stage="extract",
            completed_at=T9 + HOUR + 2,
            record_ids=["r1"],
        ),
        PublishEvent(event_id="p1", study_id="S1", published_at=T9 + HOUR + 3, record_ids=["r1"]),
        PublishEvent(
            event_id="p2", study_id="S1", published_at=T9 + 2 * HOUR - 1, record_ids=["r3"]
        ),
        _staged_query("q1", "opened", T9 + HOUR),
        _staged_query("q2", "closed", T9 + 2 * HOUR - 1),  # quiet since the first horizon's instant
    ]
    for engine in (filed, scanned):
        engine._prune(T9 + DAY, T9)  # files every hour from now on
        engine.apply_all(hour_1)
    for horizon in (T9 + 2 * HOUR - 1, T9 + 2 * HOUR):  # hour 1 ends at T9 + 2 h
        filed._prune(horizon + DAY, horizon)
        scanned._prune(horizon + DAY, horizon)
        assert filed.to_state() == scanned.to_state()
        group = filed.studies["S1"].dashboards["default"].groups[()]
        assert (T9 // HOUR + 1 in group.published) is (horizon < T9 + 2 * HOUR)
        assert (T9 // HOUR + 1 in filed.event_ids.by_hour) is (horizon < T9 + 2 * HOUR)
        assert ("Q" in filed.studies["S1"].queries.queries) is (horizon < T9 + 2 * HOUR)
        record_publishes = filed.studies["S1"].dashboards["default"].record_publishes
        assert ("r3" in record_publishes) is (horizon < T9 + 2 * HOUR)


def _staged_entry(event_id: str, record: str, at: int, visit_date: str | None = None) -> EntryEvent:
    return EntryEvent(event_id=event_id, study_id="S1", site_id="s", subject_id="x", form_id="f",
                      record_id=record, entered_at=at, visit_date=visit_date)  # fmt: skip


def _staged_query(event_id: str, status: str, at: int) -> QueryEvent:
    return QueryEvent(event_id=event_id, query_id="Q", study_id="S1", site_id="s", status=status,
                      occurred_at=at)  # fmt: skip
