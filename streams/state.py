"""The engine's state as plain values — lists, string-keyed dicts, ints, strings, None — and back.

What a checkpoint stores (``agents/live/checkpoints.py`` serializes it): declared
here, versioned by ``STATE_VERSION``, never code. Every int fits in 64 bits
(entry keys are split into their parts; sums are written as decimal strings).
A change of this layout bumps the version and comes with a new golden file
(``tests/streams/golden/``); a state of another version is refused and the
shard rebuilt from its topic.

Layout, version 2 (positional lists keep a million entries small and fast)::

    {"version": 2,
     "config": {"retention_us", "max_hold_us", "breakdown", "latency_bounds_us",
                "query_bounds_us"},
     "counters": [accepted, duplicates, unknown_dashboard, late],
     "clock": [watermark_us, earliest_us, seq, pruned_at_us],
     "inputs": null | {"partitions": [count per input topic…],
                       "marks": [[topic_index, partition, newest_us | null, idle]…]},
     "last_entry": null | [study_id, site_id, record_id, entered_us, country, vendor, seq],
     "event_ids": {"hours": [[hour, [event_id…]]…], "unfiled": [event_id…], "hour": hour|null},
     "studies": [[study_id, sla_us, first_seen_us, [dashboard…], queries]…]}

    dashboard: [name, sla_us, last_published_us, first_entered_us,
                snapshot_cutoffs, snapshot_times,
                [[record_id, published_us | [published_us…]]…],   # record publishes
                [group…]]                                          # in index order
    group:     [[key part…], latest_published, tally,
                [[hour, [entered_us…], [seq…], [record_id…]]…],                # pending
                [[hour, max_published, [entered_us…], [seq…], [published_us…],
                  [record_id…]]…]]                                             # published
    tally:     [[bucket count…], count, "sum_us", within_sla]
    queries:   [[[key part…], answer tally, close tally]…,                     # groups
                [[query_id, group, last_us, state, opened_us, orphans,
                  [occurred_us, seq, status, …]]…]]

Version 2 (issue 21) added ``inputs`` (the progress the router reported of each input
topic-partition, ``streams/watermarks.py``; null for an engine not fed by inputs) and
``config.max_hold_us``; everything else is as in version 1.

Derived indexes (the record index of each dashboard) are rebuilt, not stored.
"""

from __future__ import annotations

from typing import Any

from schemas.events import EntryEvent
from streams.config import EngineConfig
from streams.dedupe import EventIdMemory
from streams.latency import (
    ENTERED_SHIFT,
    GROUP_MASK,
    SEQ_MASK,
    SEQ_SHIFT,
    DashboardLedger,
    GroupLedger,
)
from streams.queries import QueryLedger, TrackedQuery
from streams.tally import Tally

STATE_VERSION = 2


class StateError(ValueError):
    """A state this engine cannot take: another version, another configuration, a bad shape."""


# -- engine → plain values ---------------------------------------------------------------


def _tally(tally: Tally) -> list[Any]:
    return [list(tally.bucket_counts), tally.count, str(tally.sum_us), tally.within_sla]


def _keys(keys: Any) -> tuple[list[int], list[int]]:
    return [k >> ENTERED_SHIFT for k in keys], [k >> SEQ_SHIFT & SEQ_MASK for k in keys]


def _group(group: GroupLedger) -> list[Any]:
    pending = []
    for hour, entries in group.pending.items():
        entered, seqs = _keys(entries)
        pending.append([hour, entered, seqs, list(entries.values())])
    published = []
    for hour, entries in group.published.items():
        entered, seqs = _keys(entries)
        published.append(
            [
                hour,
                group.max_published[hour],
                entered,
                seqs,
                list(entries.values()),
                list(group.published_records[hour]),
            ]
        )
    return [list(group.key), group.latest_published, _tally(group.tally), pending, published]


def _dashboard(name: str, ledger: DashboardLedger) -> list[Any]:
    publishes = [
        [record_id, times if times.__class__ is int else list(times)]  # type: ignore[arg-type]
        for record_id, times in ledger.record_publishes.items()
    ]
    return [
        name,
        ledger.sla_us,
        ledger.last_published_us,
        ledger.first_entered_us,
        list(ledger.snapshot_cutoffs),
        list(ledger.snapshot_times),
        publishes,
        [_group(group) for group in ledger.group_list],
    ]


def _queries(ledger: QueryLedger) -> list[Any]:
    keys = list(ledger.answer_tallies)
    index = {key: i for i, key in enumerate(keys)}
    groups = [
        [list(key), _tally(ledger.answer_tallies[key]), _tally(ledger.close_tallies[key])]
        for key in keys
    ]
    queries = [
        [
            query_id,
            index[query.group_key],
            query.last_us,
            query.state,
            query.opened_us,
            query.orphans,
            [part for event in query.events for part in event],
        ]
        for query_id, query in ledger.queries.items()
    ]
    return [groups, queries]


def engine_state(engine: Any) -> dict[str, Any]:
    """The plain-value state of an engine (see the module docstring)."""
    config: EngineConfig = engine.config
    ids: EventIdMemory = engine.event_ids
    filed = {event_id for bucket in ids.by_hour.values() for event_id in bucket}
    last = engine._last_entry
    counters = engine.counters
    return {
        "version": STATE_VERSION,
        "config": _config(config),
        "counters": [
            counters.accepted,
            counters.duplicates,
            counters.unknown_dashboard,
            counters.late,
        ],
        "clock": [engine.watermark_us, engine.earliest_us, engine._seq, engine._pruned_at_us],
        "inputs": None
        if engine.inputs is None
        else {
            "partitions": list(engine.inputs.partitions),
            "marks": [list(mark) for mark in engine.inputs.marks()],
        },
        "last_entry": None
        if last is None
        else [
            last.study_id,
            last.site_id,
            last.record_id,
            last.entered_at,
            last.country,
            last.vendor,
            engine._last_entry_seq,
        ],
        "event_ids": {
            "hours": [[hour, list(bucket)] for hour, bucket in ids.by_hour.items()],
            "unfiled": [event_id for event_id in ids.seen if event_id not in filed],
            "hour": ids.hour,
        },
        "studies": [
            [
                study_id,
                study.sla_us,
                study.first_seen_us,
                [_dashboard(name, ledger) for name, ledger in study.dashboards.items()],
                _queries(study.queries),
            ]
            for study_id, study in engine.studies.items()
        ],
    }


def _config(config: EngineConfig) -> dict[str, Any]:
    from streams.engine import _bounds_us

    return {
        "retention_us": config.retention_us,
        "max_hold_us": config.max_hold_us,
        "breakdown": list(config.breakdown),
        "latency_bounds_us": list(_bounds_us(config.latency_bounds_s)),
        "query_bounds_us": list(_bounds_us(config.query_bounds_s)),
    }


# -- plain values → engine ---------------------------------------------------------------


def _restore_tally(values: list[Any], bounds: tuple[int, ...]) -> Tally:
    tally = Tally(bounds)
    counts, tally.count, sum_us, tally.within_sla = values
    if len(counts) != len(bounds) + 1:
        raise StateError("a tally does not match its bucket bounds")
    tally.bucket_counts = [int(c) for c in counts]
    tally.sum_us = int(sum_us)
    return tally


def _restore_group(values: list[Any], ledger: DashboardLedger) -> None:
    key, latest, tally, pending, published = values
    group = ledger.group(tuple(key))
    index = group.index
    group.latest_published = latest
    group.tally = _restore_tally(tally, ledger.bounds_us)
    by_record = ledger.by_record
    for hour, entered, seqs, records in pending:
        keys = [
            e << ENTERED_SHIFT | s << SEQ_SHIFT | index for e, s in zip(entered, seqs, strict=True)
        ]
        group.pending[hour] = dict(zip(keys, records, strict=True))
        for k, record_id in zip(keys, records, strict=True):
            by_record.setdefault(record_id, []).append(k)  # type: ignore[union-attr,arg-type]
    for hour, max_published, entered, seqs, times, records in published:
        keys = [
            e << ENTERED_SHIFT | s << SEQ_SHIFT | index for e, s in zip(entered, seqs, strict=True)
        ]
        group.published[hour] = dict(zip(keys, times, strict=True))
        group.published_records[hour] = list(records)
        group.max_published[hour] = max_published
        for k, record_id in zip(keys, records, strict=True):
            by_record.setdefault(record_id, []).append(k)  # type: ignore[union-attr,arg-type]


def _restore_dashboard(values: list[Any], bounds: tuple[int, ...]) -> tuple[str, DashboardLedger]:
    name, sla_us, last_published, first_entered, cutoffs, times, publishes, groups = values
    ledger = DashboardLedger(sla_us, bounds)
    ledger.last_published_us, ledger.first_entered_us = last_published, first_entered
    ledger.snapshot_cutoffs, ledger.snapshot_times = list(cutoffs), list(times)
    for group in groups:
        _restore_group(group, ledger)
    # The record index: a record's keys ascending, a lone key bare, and ()
    # for a record known by its publish times only (DashboardLedger.by_record).
    by_record = ledger.by_record
    for record_id, keys in by_record.items():
        if len(keys) == 1:  # type: ignore[arg-type]
            by_record[record_id] = keys[0]  # type: ignore[index]
        else:
            by_record[record_id] = tuple(sorted(keys))  # type: ignore[arg-type]
    for record_id, published in publishes:
        ledger.record_publishes[record_id] = (
            published if published.__class__ is int else list(published)
        )
        by_record.setdefault(record_id, ())
    return name, ledger


def _restore_queries(values: list[Any], bounds: tuple[int, ...]) -> QueryLedger:
    groups, queries = values
    ledger = QueryLedger(bounds)
    keys = []
    for key, answers, closes in groups:
        key = tuple(key)
        keys.append(key)
        ledger.answer_tallies[key] = _restore_tally(answers, bounds)
        ledger.close_tallies[key] = _restore_tally(closes, bounds)
    for query_id, group, last_us, state, opened_us, orphans, flat in queries:
        key = keys[group]
        query = TrackedQuery(key, ledger.answer_tallies[key], ledger.close_tallies[key])
        query.events = [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]
        query.last_us, query.state, query.opened_us, query.orphans = (
            last_us, state, opened_us, orphans,
        )  # fmt: skip
        ledger.queries[query_id] = query
    return ledger


def restore_engine(config: EngineConfig, state: dict[str, Any]) -> Any:
    """An engine that goes on exactly like the one ``state`` was taken from.

    Raises StateError for another version or configuration, and for any shape this
    layout does not have (a malformed state never yields a half-built engine).
    """
    from streams.engine import Counters, Engine, StudyState

    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise StateError(f"not an engine state of version {STATE_VERSION}")
    if state.get("config") != _config(config):
        raise StateError("written with another retention, max_hold, breakdown or bucket bounds")
    try:
        engine = Engine(config)
        engine.counters = Counters(*state["counters"])
        engine.watermark_us, engine.earliest_us, engine._seq, engine._pruned_at_us = state["clock"]
        inputs = state["inputs"]
        if inputs is not None:
            engine.track_inputs()
            engine.inputs.note(
                [
                    (int(t), int(p), None if n is None else int(n), bool(idle))
                    for t, p, n, idle in inputs["marks"]
                ],
                [int(count) for count in inputs["partitions"]],
            )
            engine._low_us = engine.inputs.low()
        last = state["last_entry"]
        if last is not None:
            study_id, site_id, record_id, entered_us, country, vendor, seq = last
            # Only what the engine reads of its last entry was saved; the rest stays empty.
            engine._last_entry = EntryEvent(
                event_id="",
                study_id=study_id,
                site_id=site_id,
                subject_id="",
                form_id="",
                record_id=record_id,
                entered_at=entered_us,
                country=country,
                vendor=vendor,
            )
            engine._last_entry_seq = seq
        ids = engine.event_ids
        for hour, bucket in state["event_ids"]["hours"]:
            ids.by_hour[hour] = list(bucket)
            ids.seen.update(dict.fromkeys(bucket, hour))
        ids.seen.update(dict.fromkeys(state["event_ids"]["unfiled"], 0))
        hour = state["event_ids"]["hour"]
        if hour is not None:
            ids.hour, ids.hour_ids = hour, ids.by_hour[hour]
        latency_bounds, query_bounds = engine._latency_bounds, engine._query_bounds
        for study_id, sla_us, first_seen, dashboards, queries in state["studies"]:
            ledgers = dict(_restore_dashboard(d, latency_bounds) for d in dashboards)
            study = StudyState(sla_us, ledgers, _restore_queries(queries, query_bounds))
            study.first_seen_us = first_seen
            engine.studies[study_id] = study
    except StateError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise StateError(f"malformed engine state ({type(error).__name__})") from None
    if any(g.index > GROUP_MASK for s in engine.studies.values() for d in s.dashboards.values()
           for g in d.group_list):  # fmt: skip
        raise StateError("too many groups")
    return engine
