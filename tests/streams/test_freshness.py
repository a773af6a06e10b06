"""Publish and data freshness, and the uptime minutes they give (streams/freshness.py),
against the brute force: any arrival order, coarse instants where equal times are common,
merged shards, retention, and the boundaries of each ≤ rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, PublishEvent
from streams import Engine
from streams.freshness import MINUTE_US, merge_histories, verdicts
from tests.streams import boundaries, brute_force
from tests.streams.strategies import (
    BASE,
    DAY,
    HOUR,
    MINUTE,
    _ts,
    _valid,
    arrivals,
    engine_config,
    instants,
)

DASHBOARDS = (("S1", "default"), ("S1", "ops"), ("S2", "default"))
thresholds = st.sampled_from([0, 1, MINUTE - 1, MINUTE, HOUR, 6 * HOUR, DAY])
windows = st.sampled_from([HOUR, 6 * HOUR, DAY])


def _expected(events, t, clock, publish_after, data_after, window):
    out = {}
    for study, dashboard in DASHBOARDS:
        seen = [e for e in brute_force.dedupe(events) if e.study_id == study]
        if not any(brute_force._time(e) <= t for e in seen):
            continue
        published, shown, first = brute_force.freshness_signals(events, study, dashboard, t)
        publish_base = published if published is not None else first
        data_base = shown if shown is not None else first
        out[(study, dashboard)] = (
            published,
            shown,
            None if publish_base is None else t - publish_base,
            None if data_base is None else t - data_base,
            brute_force.uptime_minutes(
                events, study, dashboard, t, clock, publish_after, data_after, window
            ),
        )
    return out


def _got(engine, t, publish_after, data_after, window, clock=None):
    figures = engine.freshness(t, lambda _s, _d: (publish_after, data_after), clock, window)
    return {
        key: (
            f.last_published_us,
            f.newest_shown_us,
            f.publish_freshness_us,
            f.data_freshness_us,
            (f.good, f.bad, f.unknown),
        )
        for key, f in figures.items()
    }


def _on_time(events, retention_us):
    """The events that are not late when they arrive (boundaries.late), in arrival order."""
    kept, newest = [], None
    for event in events:
        time_us = brute_force._time(event)
        newest = time_us if newest is None else max(newest, time_us)
        if not boundaries.late(time_us, newest, retention_us):
            kept.append(event)
    return kept


def _clock(events):
    times = [brute_force._time(e) for e in brute_force.dedupe(events)]
    return max(times, default=None)


@settings(max_examples=150, deadline=None)
@given(arrivals, instants, thresholds, thresholds, windows)
def test_freshness_and_minutes_as_of_any_instant_equal_the_brute_force(
    events, t, publish_after, data_after, window
):
    engine = Engine(engine_config(retention_us=None))
    engine.apply_all(events)
    clock = _clock(events)
    assert _got(engine, t, publish_after, data_after, window) == _expected(
        events, t, clock, publish_after, data_after, window
    )


@settings(max_examples=100, deadline=None)
@given(arrivals, st.sampled_from([0, 1, MINUTE, HOUR]), thresholds, thresholds, windows)
def test_with_retention_the_answer_as_of_the_clock_or_later_is_exact(
    events, after, publish_after, data_after, window
):
    """Live compacts the history to a point per minute the clock has passed. (Duplicates
    of forgotten ids apply again under a retention, docs/design.md: fed once each here; and
    an event older than the retention horizon when it arrives is late, counted and not exact
    by design: none is fed here.)"""
    events = _on_time(brute_force.dedupe(events), 2 * DAY)
    engine = Engine(engine_config(retention_us=2 * DAY))
    for event in events:  # compacted at every step, as pruning would, late events after it
        engine.apply(event)
        running = engine.deadline_clock()
        for ledger in (d for s in engine.studies.values() for d in s.dashboards.values()):
            ledger.freshness.compact(running, window)  # type: ignore[arg-type]
    clock = _clock(events)
    if clock is None:
        return
    t = clock + after
    assert _got(engine, t, publish_after, data_after, window) == _expected(
        events, t, clock, publish_after, data_after, window
    )


@settings(max_examples=100, deadline=None)
@given(arrivals, st.integers(2, 3), thresholds, thresholds)
def test_shards_merged_are_one_engine(events, shards, publish_after, data_after):
    """Split as the live router splits (entries by record, record publishes by record,
    snapshots to every shard), the merged histories give one engine's verdicts."""
    from agents.live.shard_wire import route

    events = brute_force.dedupe(events)  # as the sharded replay drops repeated ids first
    engines = [Engine(engine_config(retention_us=None)) for _ in range(shards)]
    for event in events:
        for shard, part in route(event, shards):
            engines[shard].apply(part)
    whole = Engine(engine_config(retention_us=None))
    whole.apply_all(events)
    clock = _clock(events)
    if clock is None:
        return
    for study, dashboard in DASHBOARDS:
        if study not in whole.studies:
            continue
        ledgers = [e.studies[study].dashboards[dashboard] for e in engines if study in e.studies]
        merged = merge_histories(ledger.freshness for ledger in ledgers)
        first = min(
            (x.first_entered_us for x in ledgers if x.first_entered_us is not None), default=None
        )
        one = whole.studies[study].dashboards[dashboard]
        assert first == one.first_entered_us
        assert verdicts(merged, first, clock, clock, publish_after, data_after, DAY) == verdicts(
            one.freshness, one.first_entered_us, clock, clock, publish_after, data_after, DAY
        )


# -- boundaries: equal instants ------------------------------------------------------------


def _entry(event_id: str, at: int, record: str = "r1") -> EntryEvent:
    return _valid(EntryEvent, {
        "schema": "edc.entry/1", "event_id": event_id, "study_id": "S2", "site_id": "s",
        "subject_id": "subj", "form_id": "f", "record_id": record, "entered_at": _ts(at),
        "action": "create",
    })  # fmt: skip


def _publish(event_id: str, at: int, cutoff: int | None = None, records=None) -> PublishEvent:
    doc = {
        "schema": "dashboard.publish/1", "event_id": event_id, "study_id": "S2",
        "published_at": _ts(at), "dashboard": "default",
    }  # fmt: skip
    if cutoff is not None:
        doc["data_cutoff"] = _ts(cutoff)
    else:
        doc["record_ids"] = records
    return _valid(PublishEvent, doc)


def _minutes(events, t, publish_after, data_after, window=HOUR):
    engine = Engine(engine_config(retention_us=None))
    engine.apply_all(events)
    f = engine.freshness(t, lambda _s, _d: (publish_after, data_after), None, window)[
        ("S2", "default")
    ]
    return f


def test_a_freshness_equal_to_its_threshold_is_good_and_one_microsecond_more_is_bad():
    # Snapshot at BASE with cutoff BASE − D; the first minute ends at BASE + 60 s − 1 µs.
    end = BASE + MINUTE - 1
    publish_after = end - BASE  # publish freshness at the minute's end equals it
    for data_after, verdict in ((end - (BASE - HOUR), "good"), (end - (BASE - HOUR) - 1, "bad")):
        f = _minutes(
            [_publish("p", BASE, cutoff=BASE - HOUR), _entry("late", BASE + MINUTE)],
            BASE + MINUTE,
            publish_after,
            data_after,
            window=MINUTE,
        )
        assert (f.good, f.bad) == ((1, 0) if verdict == "good" else (0, 1))
    f = _minutes(
        [_publish("p", BASE, cutoff=BASE), _entry("late", BASE + MINUTE)],
        BASE + MINUTE,
        publish_after - 1,
        DAY,
        window=MINUTE,
    )
    assert (f.good, f.bad) == (0, 1)


def test_a_minute_is_judged_at_its_last_microsecond_and_input_reaches_it_at_equality():
    # The clock at exactly the minute's last microsecond: judged; one µs less: unknown.
    end = BASE + MINUTE - 1
    events = [_publish("p", BASE, cutoff=BASE)]
    assert (_minutes([*events, _entry("e", end)], end, DAY, DAY, MINUTE).good) == 1
    f = _minutes([*events, _entry("e", end - 1)], end, DAY, DAY, MINUTE)
    assert (f.good, f.unknown) == (0, 1)
    # A publish at the minute's last microsecond counts for it; one at the next minute's
    # first does not.
    stale = [_entry("e0", BASE - DAY), _entry("e", BASE + 2 * MINUTE)]
    at_end = _minutes(
        [*stale, _publish("p", end, cutoff=end)], end + MINUTE, HOUR, HOUR, MINUTE * 2
    )
    assert (at_end.good, at_end.bad) == (2, 0)
    after = _minutes(
        [*stale, _publish("p", end + 1, cutoff=end + 1)], end + MINUTE, HOUR, HOUR, MINUTE * 2
    )
    assert (after.good, after.bad) == (1, 1)


def test_republishing_with_a_stuck_cutoff_is_fresh_by_publishes_and_stale_by_data():
    events = [_entry("e", BASE - DAY)] + [
        _publish(f"p{h}", BASE + h * HOUR, cutoff=BASE - DAY) for h in range(24)
    ]
    f = _minutes(events, BASE + 23 * HOUR, 2 * HOUR, 2 * HOUR)
    assert f.publish_freshness_us == 0
    assert f.data_freshness_us == DAY + 23 * HOUR
    assert (f.good, f.bad, f.unknown) == (0, 60, 0)


def test_an_old_entry_shown_after_a_newer_one_does_not_take_the_newest_back():
    events = [
        _entry("new", BASE, "r1"), _entry("old", BASE - DAY, "r2"),
        _publish("p1", BASE + HOUR, records=["r1"]), _publish("p2", BASE + 2 * HOUR, records=["r2"]),
    ]  # fmt: skip
    f = _minutes(events, BASE + 2 * HOUR, DAY, DAY)
    assert f.newest_shown_us == BASE
    # A late, earlier snapshot (a correction) only makes the data shown newer.
    f = _minutes(
        [*events, _publish("s", BASE + HOUR, cutoff=BASE + HOUR)], BASE + 2 * HOUR, DAY, DAY
    )
    assert f.newest_shown_us == BASE + HOUR


def test_minutes_before_anything_to_judge_and_after_the_input_are_unknown():
    events = [_entry("e", BASE + 10 * MINUTE), _publish("p", BASE + 20 * MINUTE, cutoff=BASE)]
    f = _minutes(events, BASE + HOUR - 1, DAY, DAY)
    # minutes 0..9 have nothing; 10..20 judged (by the first entry, then the publish);
    # the clock is BASE + 20 min, so minutes 20 (ends after it) .. 59 are unknown.
    assert (f.good, f.bad, f.unknown) == (10, 0, 50)


def test_verdicts_of_a_minute_grid_far_from_the_epoch_and_before_it():
    """Floors, not truncation, for instants before 1970."""
    from streams.freshness import FreshnessHistory

    history = FreshnessHistory()
    history.published.add(-MINUTE_US)
    history.note_shown(-MINUTE_US, -MINUTE_US)
    assert verdicts(history, None, -1, -1, 0, 0, MINUTE_US) == (0, 1, 0)
    assert verdicts(history, None, -1, -1, MINUTE_US - 1, MINUTE_US - 1, MINUTE_US) == (1, 0, 0)
