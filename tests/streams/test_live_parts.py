"""What the live collector reads, as of any T: time to breach counted per breakdown group
(streams/deadlines.py, not the replay's sorted count), and the freshness histories of
shards that compacted at their own clocks, copied and merged (streams/freshness.py).

The replay's answers are checked against the brute force elsewhere (test_at_risk.py,
test_freshness.py); here the live path must give the same figures.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, PublishEvent
from streams import Engine
from streams.at_risk import at_risk_from_parts, at_risk_parts, outlooks, publish_histories
from streams.deadlines import TimeToBreach, merge_time_to_breach, time_to_breach
from streams.freshness import merge_histories, newest_at, verdicts
from tests.streams import brute_force, strategies
from tests.streams.strategies import BASE, DAY, HOUR, MINUTE
from tests.streams.test_at_risk import _config, scenarios, schedules
from tests.streams.test_freshness import _on_time

EDGES = (HOUR, 4 * HOUR, DAY)


def _live(engine: Engine, as_of: int) -> dict[tuple[str, str], TimeToBreach]:
    """Per group with the schedule of the merged history, merged: as the collector reads."""
    expected = outlooks(engine.config, publish_histories([engine]), as_of)
    out = {}
    for study_id, study in engine.studies.items():
        if study.first_seen_us is None or study.first_seen_us > as_of:
            continue
        for name, ledger in study.dashboards.items():
            seen = expected.get((study_id, name))
            following = None if seen is None else seen.next_publish_us
            parts = [
                time_to_breach([group], study.sla_us, as_of, EDGES, following)
                for group in ledger.groups.values()
            ]
            merged = merge_time_to_breach(parts)
            out[(study_id, name)] = merged or TimeToBreach(
                (0,) * (len(EDGES) + 2), None, None if following is None else 0, following
            )
    return out


def _replay(engine: Engine, as_of: int) -> dict[tuple[str, str], TimeToBreach]:
    merged = at_risk_from_parts(engine.config, [at_risk_parts(engine, as_of)], as_of)
    return {
        (study, name): risk.time_to_breach
        for study, dashboards in merged.items()
        for name, risk in dashboards.items()
    }


@settings(max_examples=150, deadline=None)
@given(scenarios(), schedules, strategies.instants)
def test_time_to_breach_per_group_as_of_any_instant_equals_the_replay(scenario, spec, as_of):
    events, shifted_as_of = scenario
    engine = Engine(_config(spec))
    engine.apply_all(events)
    for t in (as_of, shifted_as_of):
        assert _live(engine, t) == _replay(engine, t)


# -- by hand: an hour bucket T falls in, and entries published after T --------------------

SLA = 6 * HOUR  # S1's (test_at_risk._config)


def _entry(n: int, at: int) -> EntryEvent:
    return strategies._valid(EntryEvent, {
        "schema": "edc.entry/1", "event_id": f"e{n}", "study_id": "S1", "site_id": "s",
        "subject_id": "x", "form_id": "f", "record_id": f"r{n}", "entered_at": strategies._ts(at),
    })  # fmt: skip


def _publish(n: int, at: int, records: list[str]) -> PublishEvent:
    return strategies._valid(PublishEvent, {
        "schema": "dashboard.publish/1", "event_id": f"p{n}", "study_id": "S1",
        "published_at": strategies._ts(at), "record_ids": records, "dashboard": "default",
    })  # fmt: skip


def _figures(engine: Engine, as_of: int, following: int | None = None) -> TimeToBreach:
    """The live count (per group), after checking the replay's sorted count agrees."""
    (group,) = engine.studies["S1"].dashboards["default"].groups.values()
    live = time_to_breach([group], SLA, as_of, EDGES, following)
    replay = _replay(engine, as_of).get(("S1", "default"))
    if replay is None:  # the study not seen by T: nothing pending
        assert live.pending == 0
    elif following is None or replay.next_publish_us == following:
        assert replay == live
    return live


def test_entries_of_the_hour_t_falls_in_count_up_to_t_and_the_earliest_deadline_is_theirs():
    hour = BASE + 10 * HOUR
    engine = Engine(_config(None))
    engine.apply_all([_entry(1, hour + 10 * MINUTE), _entry(2, hour + 30 * MINUTE),
                      _entry(3, hour + 30 * MINUTE + 1), _entry(4, hour - 1),
                      _entry(5, hour + 10 * MINUTE - 1)])  # fmt: skip
    at = _figures(engine, hour + 30 * MINUTE)
    assert at.by_time_left == (0, 0, 0, 4, 0)  # 6 h left or less: four entered by T
    assert at.earliest_deadline_us == hour - 1 + SLA
    # T on the last microsecond of the hour: the hour is whole, counted by its length.
    whole = _figures(engine, hour + HOUR - 1)
    assert whole.by_time_left == (0, 0, 0, 5, 0)
    # Entered before the due instant (one 1 µs before): breached; entered at it
    # (deadline = T): 0 left, and the earliest upcoming deadline.
    later = _figures(engine, hour + 10 * MINUTE + SLA)
    assert later.by_time_left == (2, 3, 0, 0, 0)
    assert later.earliest_deadline_us == hour + 10 * MINUTE + SLA
    assert _figures(engine, hour + 10 * MINUTE + SLA + 1).earliest_deadline_us == (
        hour + 30 * MINUTE + SLA
    )


def test_an_entry_published_after_t_is_pending_as_of_t_and_not_at_its_publish():
    entered, published = BASE + 10 * HOUR, BASE + 12 * HOUR
    engine = Engine(_config(None))
    engine.apply_all([
        _entry(1, entered), _entry(2, entered), _entry(3, entered + 1),
        _publish(1, published, ["r1"]), _publish(3, published + HOUR, ["r3"]),
    ])  # fmt: skip
    before = _figures(engine, published - 1)
    assert before.pending == 3 and before.earliest_deadline_us == entered + SLA
    at = _figures(engine, published)
    assert at.pending == 2  # r1 published at T: no longer pending; r3 published after T
    assert _figures(engine, published + HOUR).pending == 1
    assert _figures(engine, entered).pending == 2  # entered at T: pending
    assert _figures(engine, entered - 1).pending == 0


def test_certain_breaches_leave_out_those_already_breached_and_carry_the_next_publish():
    as_of = BASE + 10 * DAY
    # Daily at T + 2 h: nothing published, so that slot is the next expected publish.
    engine = Engine(_config(("interval", DAY, as_of + 2 * HOUR)))
    # Breached (deadline 1 µs before T), under 1 h left, and 5 h left.
    engine.apply_all([_entry(1, as_of - SLA - 1), _entry(2, as_of - SLA + 30 * MINUTE),
                      _entry(3, as_of - SLA + 5 * HOUR)])  # fmt: skip
    following = as_of + 2 * HOUR
    figures = _figures(engine, as_of, following)
    assert figures.by_time_left == (1, 1, 0, 1, 0)
    assert (figures.certain_breaches, figures.next_publish_us) == (1, following)
    assert _figures(engine, as_of, as_of + 5 * HOUR + 1).certain_breaches == 2


# -- freshness: shards that compacted at their own clocks, merged ------------------------


windows = st.sampled_from([HOUR, 6 * HOUR, DAY])
thresholds = st.sampled_from([0, MINUTE, HOUR, DAY])


@settings(max_examples=100, deadline=None)
@given(strategies.arrivals, st.integers(2, 3), windows, st.sampled_from([0, 1, MINUTE]), thresholds)
def test_compacted_shard_histories_copied_and_merged_are_one_engines(
    events, shards, window, after, threshold
):
    """As the collector reads live shards: each compacted at its own clock, copied, merged;
    as of the clock or later that is one engine compacted at the clock."""
    from agents.live.shard_wire import route

    events = _on_time(brute_force.dedupe(events), 2 * DAY)
    engines = [Engine(strategies.engine_config(retention_us=2 * DAY)) for _ in range(shards)]
    whole = Engine(strategies.engine_config(retention_us=2 * DAY))
    for event in events:
        for engine, part in [*((engines[s], p) for s, p in route(event, shards)), (whole, event)]:
            engine.apply(part)
            clock = engine.deadline_clock()
            for ledger in (d for s in engine.studies.values() for d in s.dashboards.values()):
                ledger.freshness.compact(clock, window)  # type: ignore[arg-type]
    clock = max((brute_force._time(e) for e in events), default=None)
    if clock is None:
        return
    t = clock + after
    for study_id, study in whole.studies.items():
        for name, one in study.dashboards.items():
            histories = [
                e.studies[study_id].dashboards[name].freshness.copy()
                for e in engines
                if study_id in e.studies
            ]
            merged = merge_histories(histories)
            assert newest_at(merged, t) == newest_at(one.freshness, t)
            first = one.first_entered_us
            assert verdicts(merged, first, t, clock, threshold, threshold, window) == verdicts(
                one.freshness, first, t, clock, threshold, threshold, window
            )


def _s2_entry(record: str, at: int) -> EntryEvent:
    return strategies._valid(EntryEvent, {
        "schema": "edc.entry/1", "event_id": f"e-{record}", "study_id": "S2", "site_id": "s",
        "subject_id": "x", "form_id": "f", "record_id": record, "entered_at": strategies._ts(at),
    })  # fmt: skip


def _s2_publish(record: str, at: int) -> PublishEvent:
    return strategies._valid(PublishEvent, {
        "schema": "dashboard.publish/1", "event_id": f"p-{record}", "study_id": "S2",
        "published_at": strategies._ts(at), "record_ids": [record], "dashboard": "default",
    })  # fmt: skip


def test_two_shards_publishing_in_the_same_minute_merge_to_the_newest_of_each():
    """Shard A publishes its record 50 s into a minute, showing data 10 min old; shard B
    publishes its own 10 s into the same minute, showing data 50 min old. Merged (A, then B),
    the newest publish is A's and the newest data shown is A's: as exact points, as the
    minute's maxima after a compaction, and as the maxima carried once the minute is folded
    out of the window."""
    minute = BASE + 10 * HOUR
    shard_a = [_s2_entry("ra", minute - 10 * MINUTE), _s2_publish("ra", minute + 50_000_000)]
    shard_b = [_s2_entry("rb", minute - 50 * MINUTE), _s2_publish("rb", minute + 10_000_000)]
    expected = (minute + 50_000_000, minute - 10 * MINUTE)
    for clock, window in ((None, None), (minute + 2 * MINUTE, DAY), (minute + 2 * HOUR, HOUR)):
        engines = [Engine(strategies.engine_config(retention_us=2 * DAY)) for _ in range(3)]
        for engine, events in zip(engines, (shard_a, shard_b, shard_a + shard_b), strict=True):
            engine.apply_all(events)
        ledgers = [e.studies["S2"].dashboards["default"] for e in engines]
        if clock is not None:
            for ledger in ledgers:
                ledger.freshness.compact(clock, window)
        t = minute + 2 * HOUR if clock is None else clock
        merged = merge_histories(ledger.freshness.copy() for ledger in ledgers[:2])
        assert newest_at(merged, t) == newest_at(ledgers[2].freshness, t) == expected


def test_an_entry_before_1970_is_pending_like_any_other():
    from schemas.timestamps import parse_timestamp_us

    entered = parse_timestamp_us("1969-12-31T23:00:00Z")
    engine = Engine(_config(None))
    engine.apply(_entry(1, entered))
    assert _figures(engine, entered + HOUR).by_time_left == (0, 0, 0, 1, 0)


# -- the replay's parts: engines fed disjoint shards, merged -------------------------------


@settings(max_examples=150, deadline=None)
@given(scenarios(), schedules, st.integers(2, 3), strategies.instants)
def test_at_risk_of_shards_merged_is_one_engines(scenario, spec, shards, as_of):
    """Cut as the live router cuts (entries and record publishes by record, snapshots to
    every shard): the parts of every engine merged answer what one engine answers."""
    from agents.live.shard_wire import route

    events, shifted_as_of = scenario
    events = brute_force.dedupe(events)
    engines = [Engine(_config(spec)) for _ in range(shards)]
    whole = Engine(_config(spec))
    for event in events:
        whole.apply(event)
        for shard, part in route(event, shards):
            engines[shard].apply(part)
    for t in (as_of, shifted_as_of):
        merged = at_risk_from_parts(whole.config, [at_risk_parts(e, t) for e in engines], t)
        assert merged == at_risk_from_parts(whole.config, [at_risk_parts(whole, t)], t)


def test_parts_merged_keep_the_earliest_first_entry_and_entries_before_1970():
    from schemas.timestamps import parse_timestamp_us

    first = parse_timestamp_us("1969-12-31T20:00:00Z")
    config = _config(("interval", HOUR, 0))  # hourly: the first slot after the first entry
    late, early, whole = Engine(config), Engine(config), Engine(config)
    late.apply(_entry(1, first + 2 * HOUR))
    early.apply(_entry(2, first))
    whole.apply_all([_entry(1, first + 2 * HOUR), _entry(2, first)])
    as_of = first + 3 * HOUR
    merged = at_risk_from_parts(config, [at_risk_parts(e, as_of) for e in (late, early)], as_of)
    one = at_risk_from_parts(config, [at_risk_parts(whole, as_of)], as_of)
    assert merged == one
    risk = merged["S1"]["default"]
    assert risk.outlook is not None and risk.outlook.due_us == first + HOUR
    assert risk.time_to_breach.pending == 2
