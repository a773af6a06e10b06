"""Figures independent of how the input partitions were interleaved (issue 21).

A month or two of a trial on four input partitions (two of entries, one of
publishes, one of queries), each in its own time order, read in an interleaving
hypothesis draws: one partition up to 60 days behind the others, the rest a little
apart, in batches of any size, split over any number of shards by the real router.
The shard engines (7-day retention, each told the router's progress as a live shard
is: ``ShardStore._apply``), one engine told the same progress, and an engine that
keeps everything must give the same exact figures (cumulative tallies, backlog and
open queries now), with no event counted late.
"""

from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.live.routing import Router
from agents.live.shard_wire import decode_message
from agents.metrics.cardinality import CardinalityGate
from schemas import Rejection, format_timestamp, parse_event
from streams import Engine, EngineConfig
from streams.engine import merge_backlogs, merge_query_figures
from streams.watermarks import HOLD_US

BASE_US = 1_767_225_600_000_000  # 2026-01-01
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
CONFIG = EngineConfig()  # the default 7-day retention
# (input topic index, partition): entries 0 and 1, queries 0, publishes 0
PARTITIONS = ((0, 0), (0, 1), (1, 0), (2, 0))


def trial(seed: int, days: int) -> dict[tuple[int, int], list[bytes]]:
    """Each partition's messages in its own time order, duplicates beside their original."""
    rng = random.Random(seed)
    out: dict[tuple[int, int], list[tuple[int, bytes]]] = {key: [] for key in PARTITIONS}
    studies = ("ONC-1", "CV-2")
    for n in range(days * 6):
        at = BASE_US + n * 4 * HOUR_US + rng.randrange(0, 4 * HOUR_US)
        study = studies[n % 2]
        record = f"rec-{n}"
        entry = orjson.dumps({
            "schema": "edc.entry/1", "event_id": f"e-{n}", "study_id": study, "site_id": "s1",
            "subject_id": "x", "form_id": "f", "record_id": record,
            "entered_at": format_timestamp(at),
        })  # fmt: skip
        key = PARTITIONS[n % 2]
        out[key].append((at, entry))
        if n % 7 == 0:
            out[key].append((at, entry))  # an at-least-once redelivery
        if n % 3 != 2:  # a third of the entries is never published: pending, some overdue
            published = at + rng.randrange(1, 5 * 24) * HOUR_US
            out[(2, 0)].append((published, orjson.dumps({
                "schema": "dashboard.publish/1", "event_id": f"p-{n}", "study_id": study,
                "published_at": format_timestamp(published), "record_ids": [record],
            })))  # fmt: skip
        if n % 5 == 0:
            opened = at + HOUR_US
            query = {"schema": "edc.query/1", "query_id": f"q-{n}", "study_id": study,
                     "site_id": "s1"}  # fmt: skip
            out[(1, 0)].append((opened, orjson.dumps({
                **query, "event_id": f"qo-{n}", "status": "opened",
                "occurred_at": format_timestamp(opened),
            })))  # fmt: skip
            if n % 10 == 0:
                closed = opened + rng.randrange(1, 20 * 24) * HOUR_US
                out[(1, 0)].append((closed, orjson.dumps({
                    **query, "event_id": f"qc-{n}", "status": "closed",
                    "occurred_at": format_timestamp(closed),
                })))  # fmt: skip
    return {key: [v for _t, v in sorted(items, key=lambda x: x[0])] for key, items in out.items()}


def _time(value: bytes) -> int:
    event = parse_event(value)
    assert not isinstance(event, Rejection)
    return event.time_us


def interleave(
    partitions: dict[tuple[int, int], list[bytes]], lagging: int, lag_us: int, shifts: list[int]
) -> list[tuple[tuple[int, int], bytes]]:
    """Read order: by event time plus each partition's delay (the lagging one's ``lag_us``);
    within a partition always its own order."""
    keyed = []
    for p, key in enumerate(PARTITIONS):
        delay = lag_us if p == lagging else shifts[p]
        keyed.extend((_time(v) + delay, p, i, key, v) for i, v in enumerate(partitions[key]))
    keyed.sort(key=lambda item: item[:3])
    return [(key, value) for _k, _p, _i, key, value in keyed]


def exact_figures(engines: list[Engine], now_us: int) -> dict[str, object]:
    tallies: dict[tuple[str, str], list[int]] = {}
    backlogs: dict[tuple[str, str], list] = {}
    queries: dict[str, list] = {}
    for engine in engines:
        for study, dashboard, _group, tally in engine.latency_tallies():
            counts = tallies.setdefault((study, dashboard), [0, 0, 0])
            counts[0] += tally.count
            counts[1] += tally.within_sla
            counts[2] += tally.sum_us
        for study, dashboard, _group, backlog in engine.backlog_by_group(now_us):
            backlogs.setdefault((study, dashboard), []).append(backlog)
        for study, _group, figures in engine.query_figures_by_group(now_us):
            queries.setdefault(study, []).append(figures)
    return {
        "tallies": tallies,
        "backlog": {k: merge_backlogs(v) for k, v in sorted(backlogs.items())},
        "queries": {k: merge_query_figures(v) for k, v in sorted(queries.items())},
        "late": sum(engine.counters.late for engine in engines),
    }


def net_over_sla(engines: list[Engine]) -> dict[tuple[str, str], int]:
    """The live over-SLA counter less its withdrawals, per study and dashboard."""
    net: dict[tuple[str, str], int] = {}
    for engine in engines:
        for study, dashboard, _group, count in engine.over_sla_by_group():
            net[(study, dashboard)] = net.get((study, dashboard), 0) + count
        for study, dashboard, _group, tally in engine.latency_tallies():
            net[(study, dashboard)] = net.get((study, dashboard), 0) - tally.breaches_withdrawn
    return {key: value for key, value in sorted(net.items()) if value}


COUNTS = [2, 1, 1]  # partitions of each input topic


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 1000),
    lagging=st.integers(0, len(PARTITIONS) - 1),
    lag_days=st.integers(0, 60),
    shifts=st.lists(st.integers(0, 2 * DAY_US), min_size=len(PARTITIONS), max_size=len(PARTITIONS)),
    shards=st.integers(1, 5),
    batch=st.integers(1, 300),
    owners=st.lists(st.integers(0, 1), min_size=len(PARTITIONS), max_size=len(PARTITIONS)),
    second_starts=st.integers(0, 40),
)
def test_shards_one_engine_and_no_retention_agree_in_any_interleaving(
    seed, lagging, lag_days, shifts, shards, batch, owners, second_starts
):
    """Two workers' routers split the input partitions; the second starts routing only
    after ``second_starts`` batches of the first (its reads wait meanwhile)."""
    order = interleave(trial(seed, 45), lagging, lag_days * DAY_US, shifts)
    routers = [Router(shards, 1 << 20, None, CardinalityGate((), 10, 10), ()) for _ in range(2)]
    for r, router in enumerate(routers):
        mine = {key for key, owner in zip(PARTITIONS, owners, strict=True) if owner == r}
        router.progress.assigned(mine, 0, COUNTS)
    shard_engines = [Engine(CONFIG) for _ in range(shards)]
    one, unbounded = Engine(CONFIG), Engine(EngineConfig(retention_us=None))
    for engine in (*shard_engines, one):
        engine.track_inputs()
    owner_of = dict(zip(PARTITIONS, owners, strict=True))
    waiting: list[tuple[tuple[int, int], bytes]] = []

    def route(r: int, chunk: list[tuple[tuple[int, int], bytes]]) -> None:
        if not chunk:
            return
        router = routers[r]
        routed = router.route(
            [(key[0], value) for key, value in chunk], 0, None, [key[1] for key, _v in chunk]
        )
        for shard, payload in routed.shard_messages:
            events, progress = decode_message(payload)
            for _topic, _counted, event in events:
                shard_engines[shard].apply(event)
            if progress is not None:
                shard_engines[shard].note_inputs(progress.marks, progress.partitions)
        for _key, value in chunk:
            event = parse_event(value)
            one.apply(event)  # type: ignore[arg-type]
            unbounded.apply(event)  # type: ignore[arg-type]
        one.note_inputs(router.progress.marks(), COUNTS)

    for n, start in enumerate(range(0, len(order), batch)):
        chunk = order[start : start + batch]
        route(0, [item for item in chunk if owner_of[item[0]] == 0])
        waiting.extend(item for item in chunk if owner_of[item[0]] == 1)
        if n >= second_starts:
            route(1, waiting)
            waiting = []
    route(1, waiting)
    for router in routers:  # the routers' timer: every shard hears of every input
        for shard, payload in router.progress_round(0)[1]:
            _events, progress = decode_message(payload)
            shard_engines[shard].note_inputs(progress.marks, progress.partitions)
    # Entries over SLA (net of those a later, earlier publish showed in time): every shard
    # judges deadlines by how far the inputs together have got, as one engine does.
    assert net_over_sla(shard_engines) == net_over_sla([unbounded]) == net_over_sla([one])
    now = unbounded.watermark_us
    expected = exact_figures([unbounded], now)
    assert expected["late"] == 0
    assert exact_figures([one], now) == expected
    assert exact_figures(shard_engines, now) == expected
    assert one.counters.duplicates == unbounded.counters.duplicates
    assert sum(e.counters.duplicates for e in shard_engines) == unbounded.counters.duplicates


def test_without_the_low_watermark_a_lagging_partition_is_late():
    """The same scenario on engines that follow their own newest event (the old rule)."""
    order = interleave(trial(3, 45), 0, 40 * DAY_US, [0, 0, 0, 0])  # entries 40 days behind
    own, unbounded = Engine(CONFIG), Engine(EngineConfig(retention_us=None))
    for _key, value in order:
        event = parse_event(value)
        own.apply(event)  # type: ignore[arg-type]
        unbounded.apply(event)  # type: ignore[arg-type]
    now = unbounded.watermark_us
    assert own.counters.late > 0
    assert exact_figures([own], now)["backlog"] != exact_figures([unbounded], now)["backlog"]


def test_an_input_that_has_not_reported_holds_everything_until_it_goes_idle():
    engine = Engine(CONFIG)
    engine.track_inputs()
    old = {"schema": "edc.entry/1", "study_id": "S", "site_id": "s", "subject_id": "x",
           "form_id": "f"}  # fmt: skip
    for n in range(30 * 24):
        value = {**old, "event_id": f"e{n}", "record_id": f"r{n}",
                 "entered_at": format_timestamp(BASE_US + n * HOUR_US)}  # fmt: skip
        engine.apply(parse_event(orjson.dumps(value)))  # type: ignore[arg-type]
    newest = BASE_US + (30 * 24 - 1) * HOUR_US
    # Entries 0 reports its progress; entries 1 and publishes 0 nobody has reported yet.
    engine.note_inputs([(0, 0, newest, False)], [2, 0, 1])
    assert engine.inputs is not None and engine.inputs.low() == HOLD_US
    assert len(engine.event_ids) == 30 * 24  # everything held
    # Reported now: entries 1 and publishes 0 idle; queries 0 assigned, told nothing yet.
    engine.note_inputs([(0, 1, None, True), (2, 0, None, True), (1, 0, None, False)], [2, 1, 1])
    assert engine.inputs.low() == HOLD_US
    assert len(engine.event_ids) == 30 * 24  # everything held
    held_us, held_ids = engine.held_back()
    assert held_us == CONFIG.max_hold_us and held_ids > 0
    engine.note_inputs([(1, 0, None, True)])  # idle: it no longer holds the horizon back
    assert engine.held_back() == (0, 0)
    assert len(engine.event_ids) < 8 * 24 + 2  # pruned to the 7-day horizon (by the hour)


def test_the_held_back_state_is_bounded_by_max_hold():
    """An input a year behind holds the horizon back by max_hold, not more."""
    engine = Engine(EngineConfig(max_hold_us=10 * DAY_US))
    engine.track_inputs()
    newest = BASE_US + 365 * DAY_US
    engine.note_inputs([(0, 0, newest, False), (2, 0, BASE_US, False)])
    value = {"schema": "edc.entry/1", "study_id": "S", "site_id": "s", "subject_id": "x",
             "form_id": "f", "event_id": "e", "record_id": "r",
             "entered_at": format_timestamp(newest)}  # fmt: skip
    engine.apply(parse_event(orjson.dumps(value)))  # type: ignore[arg-type]
    assert engine.horizon_base_us() == newest - 10 * DAY_US
    at_bound = dict(value, event_id="b", entered_at=format_timestamp(newest - 17 * DAY_US))
    beyond = dict(value, event_id="c", entered_at=format_timestamp(newest - 17 * DAY_US - 1))
    engine.apply(parse_event(orjson.dumps(at_bound)))  # type: ignore[arg-type]
    assert engine.counters.late == 0
    engine.apply(parse_event(orjson.dumps(beyond)))  # type: ignore[arg-type]
    assert engine.counters.late == 1
