"""The engine's state as plain values — lists, string-keyed dicts, ints, strings, None — and back.

What a checkpoint stores (``agents/live/checkpoints.py`` serializes it): declared
here, versioned by ``STATE_VERSION``, never code. Every int fits in 64 bits
(entry keys are split into their parts; sums are written as decimal strings).
A change of this layout bumps the version and comes with a new golden file
(``tests/streams/golden/``); a state of another version is refused and the
shard rebuilt from its topic.

Layout, version 3 (positional lists keep a million entries small and fast)::

    {"version": 3,
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
    tally:     [[bucket count…], count, "sum_us", within_sla, "corrected_us", withdrawn,
                breaches_withdrawn]                                 # the last three: v2
    queries:   [[[key part…], answer tally, close tally]…,                     # groups
                [[query_id, group, last_us, state, opened_us, orphans,
                  [occurred_us, seq, status, …]]…]]

Version 2 added the tally's corrections (issue 26); version 3 added ``inputs`` (the
progress the router reported of each input topic-partition, ``streams/watermarks.py``;
null for an engine not fed by inputs) and ``config.max_hold_us``.

Derived indexes (the record index of each dashboard) are rebuilt, not stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from schemas.events import EntryEvent
from streams import state_schema as schema
from streams.config import EngineConfig, bounds_us
from streams.dedupe import EventIdMemory
from streams.latency import DashboardLedger, GroupLedger, arrival, entered_at, entry_key
from streams.queries import QueryLedger, TrackedQuery
from streams.tally import Tally
from streams.watermarks import InputMark, InputWatermarks

# 2: the tally's corrections (issue 26); 3: the inputs' progress (issue 21). Others are
# refused and the shard rebuilt.
STATE_VERSION = schema.STATE_LAYOUT_VERSION  # written once, beside the typed layout


class StateError(ValueError):
    """A state this engine cannot take: another version, another configuration, a bad shape."""


# -- engine → plain values ---------------------------------------------------------------


def _tally(tally: Tally) -> list[Any]:
    return [
        list(tally.bucket_counts), tally.count, str(tally.sum_us), tally.within_sla,
        str(tally.corrected_us), tally.withdrawn, tally.breaches_withdrawn,
    ]  # fmt: skip


def _keys(keys: Any) -> tuple[list[int], list[int]]:
    return [entered_at(k) for k in keys], [arrival(k) for k in keys]


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


class EngineView(Protocol):
    """What the state reads of an engine: its public surface (``streams/engine.py``).

    The engine imports this module, never the other way round.
    """

    config: EngineConfig
    counters: Any  # streams.engine.Counters
    event_ids: EventIdMemory
    inputs: InputWatermarks | None
    studies: Mapping[str, Any]  # study id → streams.engine.StudyState
    watermark_us: int | None
    earliest_us: int | None

    @property
    def seq(self) -> int: ...
    @property
    def pruned_at_us(self) -> int | None: ...
    @property
    def last_entry(self) -> EntryEvent | None: ...
    @property
    def last_entry_seq(self) -> int: ...


def engine_state(engine: EngineView) -> dict[str, Any]:
    """The plain-value state of an engine (see the module docstring)."""
    config: EngineConfig = engine.config
    ids: EventIdMemory = engine.event_ids
    filed = {event_id for bucket in ids.by_hour.values() for event_id in bucket}
    last = engine.last_entry
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
        "clock": [engine.watermark_us, engine.earliest_us, engine.seq, engine.pruned_at_us],
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
            engine.last_entry_seq,
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
    return {
        "retention_us": config.retention_us,
        "max_hold_us": config.max_hold_us,
        "breakdown": list(config.breakdown),
        "latency_bounds_us": list(bounds_us(config.latency_bounds_s)),
        "query_bounds_us": list(bounds_us(config.query_bounds_s)),
    }


# -- plain values → engine ---------------------------------------------------------------


def _restore_tally(state: schema.TallyState, bounds: tuple[int, ...]) -> Tally:
    tally = Tally(bounds)
    tally.bucket_counts = list(state.bucket_counts)
    tally.count, tally.sum_us, tally.within_sla = state.count, int(state.sum_us), state.within_sla
    tally.corrected_us = int(state.corrected_us)
    tally.withdrawn, tally.breaches_withdrawn = state.withdrawn, state.breaches_withdrawn
    return tally


def _restore_group(state: schema.GroupState, ledger: DashboardLedger) -> None:
    group = ledger.group(tuple(state.key))  # type: ignore[arg-type]
    index = group.index
    group.latest_published = state.latest_published
    group.tally = _restore_tally(state.tally, ledger.bounds_us)
    by_record = ledger.by_record
    for pending in state.pending:
        keys = [
            entry_key(e, s, index)
            for e, s in zip(pending.entered_us, pending.seqs, strict=True)
        ]
        group.pending[pending.hour] = dict(zip(keys, pending.record_ids, strict=True))
        for k, record_id in zip(keys, pending.record_ids, strict=True):
            by_record.setdefault(record_id, []).append(k)  # type: ignore[union-attr,arg-type]
    for published in state.published:
        keys = [
            entry_key(e, s, index)
            for e, s in zip(published.entered_us, published.seqs, strict=True)
        ]
        group.published[published.hour] = dict(zip(keys, published.published_us, strict=True))
        group.published_records[published.hour] = list(published.record_ids)
        group.max_published[published.hour] = published.max_published
        for k, record_id in zip(keys, published.record_ids, strict=True):
            by_record.setdefault(record_id, []).append(k)  # type: ignore[union-attr,arg-type]


def _restore_dashboard(
    state: schema.DashboardState, bounds: tuple[int, ...]
) -> tuple[str, DashboardLedger]:
    ledger = DashboardLedger(state.sla_us, bounds)
    ledger.last_published_us, ledger.first_entered_us = (
        state.last_published_us, state.first_entered_us,
    )  # fmt: skip
    ledger.snapshot_cutoffs, ledger.snapshot_times = (
        list(state.snapshot_cutoffs), list(state.snapshot_times),
    )  # fmt: skip
    for group in state.groups:
        _restore_group(group, ledger)
    # The record index: a record's keys ascending, a lone key bare, and ()
    # for a record known by its publish times only (DashboardLedger.by_record).
    by_record = ledger.by_record
    for record_id, keys in by_record.items():
        if len(keys) == 1:  # type: ignore[arg-type]
            by_record[record_id] = keys[0]  # type: ignore[index]
        else:
            by_record[record_id] = tuple(sorted(keys))  # type: ignore[arg-type]
    for publishes in state.publishes:
        published = publishes.published_us
        ledger.record_publishes[publishes.record_id] = (
            published if published.__class__ is int else list(published)  # type: ignore[arg-type]
        )
        by_record.setdefault(publishes.record_id, ())
    return state.name, ledger


def _restore_queries(state: schema.QueriesState, bounds: tuple[int, ...]) -> QueryLedger:
    ledger = QueryLedger(bounds)
    keys = []
    for group in state.groups:
        key = tuple(group.key)
        keys.append(key)
        ledger.answer_tallies[key] = _restore_tally(group.answers, bounds)  # type: ignore[index]
        ledger.close_tallies[key] = _restore_tally(group.closes, bounds)  # type: ignore[index]
    for tracked in state.queries:
        key = keys[tracked.group]
        query = TrackedQuery(key, ledger.answer_tallies[key], ledger.close_tallies[key])  # type: ignore[arg-type,index]
        flat = tracked.events
        query.events = [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]  # type: ignore[misc]
        query.last_us, query.state, query.opened_us, query.orphans = (
            tracked.last_us, tracked.state, tracked.opened_us, tracked.orphans,
        )  # fmt: skip
        ledger.queries[tracked.query_id] = query
    return ledger


def decode_state(raw: bytes, config: EngineConfig) -> schema.EngineState:
    """JSON bytes of a state → its typed form, every field checked; StateError naming the first wrong one."""
    return _checked(lambda: schema.decode(raw), config)


def check_state(state: schema.EngineState, config: EngineConfig) -> schema.EngineState:
    """A state decoded as part of a larger document (a checkpoint's envelope), checked."""
    return _checked(lambda: state, config)


@dataclass(slots=True)
class RestoredParts:
    """What a state holds, rebuilt; ``Engine.from_state`` puts the parts in place."""

    counters: tuple[int, int, int, int]  # accepted, duplicates, unknown_dashboard, late
    watermark_us: int | None
    earliest_us: int | None
    seq: int
    pruned_at_us: int | None
    inputs: tuple[list[InputMark], list[int]] | None  # (marks, partitions per input topic)
    last_entry: EntryEvent | None
    last_entry_seq: int
    event_ids: EventIdMemory
    # (study_id, sla_us, first_seen_us, dashboards, queries) in the engine's order
    studies: list[tuple[str, int, int | None, dict[str, DashboardLedger], QueryLedger]]


def restore_parts(
    config: EngineConfig, state: dict[str, Any] | schema.EngineState
) -> RestoredParts:
    """The parts of an engine that goes on exactly like the one ``state`` was taken from.

    ``state``: plain values (``orjson.loads`` of a state) or ``decode_state``'s result.
    Raises StateError for another version or configuration, and for any type, range
    or shape this layout does not have (a malformed state never yields a half-built
    engine, nor one that fails later).
    """
    if not isinstance(state, schema.EngineState):
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise StateError(f"not an engine state of version {STATE_VERSION}")
        plain = state
        state = _checked(lambda: schema.convert(plain), config)
    counters, clock = state.counters, state.clock
    inputs = state.inputs
    last = state.last_entry
    last_entry = None
    if last is not None:
        # Only what the engine reads of its last entry was saved; the rest stays empty.
        try:
            last_entry = EntryEvent(
                event_id="",
                study_id=last.study_id,
                site_id=last.site_id,
                subject_id="",
                form_id="",
                record_id=last.record_id,
                entered_at=last.entered_us,
                country=last.country,
                vendor=last.vendor,
            )
        except ValueError as error:  # the event contract's own checks (schemas/events.py)
            field = str(error).split(":", 1)[0][:40]
            raise StateError(
                f"malformed engine state: $.last_entry: {field} out of range"
            ) from None
    ids = EventIdMemory()
    for filed in state.event_ids.hours:
        ids.by_hour[filed.hour] = list(filed.event_ids)
        ids.seen.update(dict.fromkeys(filed.event_ids, filed.hour))
    ids.seen.update(dict.fromkeys(state.event_ids.unfiled, 0))
    hour = state.event_ids.hour
    if hour is not None:
        ids.hour, ids.hour_ids = hour, ids.by_hour[hour]
    latency_bounds = bounds_us(config.latency_bounds_s)
    query_bounds = bounds_us(config.query_bounds_s)
    studies = [
        (
            study.study_id,
            study.sla_us,
            study.first_seen_us,
            dict(_restore_dashboard(d, latency_bounds) for d in study.dashboards),
            _restore_queries(study.queries, query_bounds),
        )
        for study in state.studies
    ]
    return RestoredParts(
        counters=(
            counters.accepted,
            counters.duplicates,
            counters.unknown_dashboard,
            counters.late,
        ),
        watermark_us=clock.watermark_us,
        earliest_us=clock.earliest_us,
        seq=clock.seq,
        pruned_at_us=clock.pruned_at_us,
        inputs=None
        if inputs is None
        else (
            [(m.topic_index, m.partition, m.newest_us, m.idle) for m in inputs.marks],
            list(inputs.partitions),
        ),
        last_entry=last_entry,
        last_entry_seq=0 if last is None else last.seq,
        event_ids=ids,
        studies=studies,
    )


def _checked(
    decode: Callable[[], schema.EngineState], config: EngineConfig
) -> schema.EngineState:
    try:
        state = decode()
    except schema.SchemaError as error:
        raise StateError(f"malformed engine state: {error}") from None
    if state.version != STATE_VERSION:
        raise StateError(f"not an engine state of version {STATE_VERSION}")
    if msgspec.structs.asdict(state.config) != _config(config):
        raise StateError("written with another retention, max_hold, breakdown or bucket bounds")
    try:
        schema.check(
            state,
            len(config.latency_bounds_s),
            len(config.query_bounds_s),
            len(config.breakdown),
        )
    except schema.SchemaError as error:
        raise StateError(f"malformed engine state: {error}") from None
    return state
