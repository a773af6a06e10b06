"""The engine's state as plain values — lists, string-keyed dicts, ints, strings, None — and back.

What a checkpoint stores (``agents/live/checkpoints.py`` serializes it): declared
here, versioned by ``STATE_VERSION``, never code. Every int fits in 64 bits
(entry keys are split into their parts; sums are written as decimal strings).
A change of this layout bumps the version and comes with a new golden file
(``tests/streams/golden/``); a state of another version is refused and the
shard rebuilt from its topic.

Layout, version 4 (positional lists keep a million entries small and fast)::

    {"version": 4,
     "config": {"retention_us", "max_hold_us", "breakdown", "latency_bounds_us",
                "query_bounds_us", "visit_bounds_us", "visit_medium_us", "visit_high_us"},
     "counters": [accepted, duplicates, unknown_dashboard, late, unknown_stage],
     "clock": [watermark_us, earliest_us, seq, pruned_at_us],
     "inputs": null | {"partitions": [count per input topic…],
                       "marks": [[topic_index, partition, newest_us | null, idle]…]},
     "last_entry": null | [study_id, site_id, record_id, entered_us, country, vendor, seq],
     "event_ids": {"hours": [[hour, [event_id…]]…], "unfiled": [event_id…], "hour": hour|null},
     "studies": [[study_id, sla_us, first_seen_us, [dashboard…], queries, [pipeline…],
                  visits]…]}

    dashboard: [name, sla_us, last_published_us, first_entered_us,
                snapshot_cutoffs, snapshot_times,
                [[record_id, published_us | [published_us…]]…],   # record publishes
                [group…],                                          # in index order
                [published_us…],            # distinct publish instants, ascending: v4
                freshness]                                         # v4
    freshness: [[published_us…], [[instant_us, shown_us]…],            # exact points
                [[minute, published_us]…], [[minute, shown_us]…],        # per minute
                published_before | null, shown_before | null, fold_at | null]
                                              # streams/freshness.py, FreshnessHistory
    group:     [[key part…], latest_published, tally,
                [[hour, [entered_us…], [seq…], [record_id…]]…],                # pending
                [[hour, max_published, [entered_us…], [seq…], [published_us…],
                  [record_id…]]…]]                                             # published
    tally:     [[bucket count…], count, "sum_us", within_sla, "corrected_us", withdrawn,
                breaches_withdrawn]                                 # the last three: v2
    pipeline:  [dashboard, [stage name…], [dashboard…]]   # a stage ledger per stage before
                                                         # the publish (streams/stages.py)
    queries:   [[[key part…], answer tally, close tally]…,                     # groups
                [[query_id, group, last_us, state, opened_us, orphans,
                  [occurred_us, seq, status, …]]…]]
    visits:    [without_visit_date, entered_before_visit,
                [[hour, [entered_us…]]…],                       # entered before the visit
                [[[key part…], tally, over_medium, over_high,
                  [[hour, [entered_us…], [visit_to_entry_us…]]…]]…]]       # groups: v4

Version 2 added the tally's corrections (issue 26); version 3 added ``inputs`` (the
progress the router reported of each input topic-partition, ``streams/watermarks.py``;
null for an engine not fed by inputs) and ``config.max_hold_us``; version 4 added each
dashboard's newest publish instants (issue 22: the schedule as of T and the learned
cadence, ``streams/schedules.py``), its freshness history (issue 22: publish times and
the newest data each showed, for data freshness and the uptime minutes), the pipeline
stages of each study's dashboards and the ``unknown_stage`` counter (issue 23), each
study's ``visits`` (visit to entry, issue 23, ``streams/visits.py``) and the
configuration's visit bounds and thresholds.

Derived indexes (the record index of each dashboard) are rebuilt, not stored.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from schemas.events import EntryEvent
from streams import state_schema as schema
from streams.config import EngineConfig, bounds_us
from streams.dedupe import EventIdMemory
from streams.freshness import FreshnessHistory
from streams.latency import DashboardLedger, GroupLedger, arrival, entered_at, entry_key
from streams.queries import QueryLedger, TrackedQuery
from streams.schedules import CADENCE_HISTORY
from streams.stages import Pipeline
from streams.tally import Tally
from streams.visits import VALUE_BITS, VALUE_MASK, VisitGroup, VisitLedger, pack, visit_ledger
from streams.watermarks import InputMark, InputWatermarks

# 2: the tally's corrections (issue 26); 3: the inputs' progress (issue 21); 4: the
# dashboards' publish instants and freshness histories (issue 22), pipeline stages and
# visit to entry (issue 23). Others are refused and the shard rebuilt.
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
        list(ledger.publish_times),
        _freshness(ledger.freshness),
    ]


def _freshness(history: FreshnessHistory) -> list[Any]:
    return [
        sorted(history.published),
        [[instant, shown] for instant, shown in sorted(history.shown.items())],
        [[minute, value] for minute, value in sorted(history.published_minutes.items())],
        [[minute, value] for minute, value in sorted(history.shown_minutes.items())],
        history.published_before,
        history.shown_before,
        history.fold_at,
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


def _hours(hours: Any) -> list[Any]:
    return [[hour, list(times)] for hour, times in hours.items()]


def _visits(ledger: VisitLedger) -> list[Any]:
    groups = [
        [
            list(key),
            _tally(group.tally),
            group.over_medium,
            group.over_high,
            [
                [hour, [p >> VALUE_BITS for p in filed], [p & VALUE_MASK for p in filed]]
                for hour, filed in group.hours.items()
            ],
        ]
        for key, group in ledger.groups.items()
    ]
    return [
        ledger.without_visit_date,
        ledger.before_visit,
        _hours(ledger.before_hours),
        groups,
    ]


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
            counters.unknown_stage,
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
                [
                    [
                        name,
                        [stage.name for stage in pipeline.stages],
                        [
                            _dashboard(stage.name, ledger)
                            for stage, ledger in zip(
                                pipeline.stages, pipeline.ledgers, strict=False
                            )
                        ],
                    ]
                    for name, pipeline in study.pipelines.items()
                ],
                _visits(study.visits),
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
        "visit_bounds_us": list(bounds_us(config.visit_bounds_s)),
        "visit_medium_us": config.visit_medium_us,
        "visit_high_us": config.visit_high_us,
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
    state: schema.DashboardState, bounds: tuple[int, ...], history_cap: int | None
) -> tuple[str, DashboardLedger]:
    ledger = DashboardLedger(state.sla_us, bounds, history_cap)
    # The newest ``history_cap``: a state written without a cap (a replay's) may hold more.
    times = sorted(set(state.publish_times))
    ledger.publish_times = times if history_cap is None else times[-history_cap:]
    ledger.last_published_us, ledger.first_entered_us = (
        state.last_published_us, state.first_entered_us,
    )  # fmt: skip
    ledger.snapshot_cutoffs, ledger.snapshot_times = (
        list(state.snapshot_cutoffs), list(state.snapshot_times),
    )  # fmt: skip
    for group in state.groups:
        _restore_group(group, ledger)
    history = ledger.freshness
    history.published = set(state.freshness.published_us)
    history.shown = {point.instant_us: point.shown_us for point in state.freshness.shown}
    history.published_minutes = {
        p.instant_us: p.shown_us for p in state.freshness.published_minutes
    }
    history.shown_minutes = {p.instant_us: p.shown_us for p in state.freshness.shown_minutes}
    history.published_before = state.freshness.published_before
    history.shown_before = state.freshness.shown_before
    history.fold_at = state.freshness.fold_at
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


def _restore_visits(state: schema.VisitsState, ledger: VisitLedger) -> VisitLedger:
    ledger.without_visit_date, ledger.before_visit = state.without_visit_date, state.before_visit
    for filed in state.before_hours:
        ledger.before_hours[filed.hour] = array("q", filed.entered_us)
    for group_state in state.groups:
        group = ledger.groups[tuple(group_state.key)] = VisitGroup(  # type: ignore[index]
            ledger.bounds_us, ledger.medium_us, ledger.high_us
        )
        group.tally = _restore_tally(group_state.tally, ledger.bounds_us)
        group.over_medium, group.over_high = group_state.over_medium, group_state.over_high
        for hour in group_state.hours:
            group.hours[hour.hour] = [
                pack(entered, value)
                for entered, value in zip(hour.entered_us, hour.values_us, strict=True)
            ]
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

    # accepted, duplicates, unknown_dashboard, late, evicted_ids (0), unknown_stage
    counters: tuple[int, int, int, int, int, int]
    watermark_us: int | None
    earliest_us: int | None
    seq: int
    pruned_at_us: int | None
    inputs: tuple[list[InputMark], list[int]] | None  # (marks, partitions per input topic)
    last_entry: EntryEvent | None
    last_entry_seq: int
    event_ids: EventIdMemory
    # (study_id, sla_us, first_seen_us, dashboards, queries, visits, pipelines) in the
    # engine's order
    studies: list[
        tuple[
            str,
            int,
            int | None,
            dict[str, DashboardLedger],
            QueryLedger,
            VisitLedger,
            dict[str, Pipeline],
        ]
    ]


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
    # Bounded in live use; the replay (no retention) keeps every publish instant.
    cap = None if config.retention_us is None else CADENCE_HISTORY
    studies = [
        (
            study.study_id,
            study.sla_us,
            study.first_seen_us,
            dict(_restore_dashboard(d, latency_bounds, cap) for d in study.dashboards),
            _restore_queries(study.queries, query_bounds),
            _restore_visits(study.visits, visit_ledger(config)),
            _restore_pipelines(study, config, cap),
        )
        for study in state.studies
    ]
    return RestoredParts(
        counters=(
            counters.accepted,
            counters.duplicates,
            counters.unknown_dashboard,
            counters.late,
            0,  # evicted_ids: per process, not in checkpoints
            counters.unknown_stage,
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


def _restore_pipelines(
    study: schema.StudyLayout, config: EngineConfig, history_cap: int | None
) -> dict[str, Pipeline]:
    """The study's pipelines, as configured now; a state written with other stages is refused
    (the shard is rebuilt: the stage completions it kept belong to other stages)."""
    configured = config.study(study.study_id).stages
    written = {pipeline.dashboard: pipeline for pipeline in study.pipelines}
    if {name: [s.name for s in stages] for name, stages in configured.items()} != {
        name: list(pipeline.stages) for name, pipeline in written.items()
    }:
        raise StateError("written with other pipeline stages")
    pipelines: dict[str, Pipeline] = {}
    for name, stages in configured.items():
        pipeline = pipelines[name] = Pipeline(stages, study.sla_us, history_cap)
        pipeline.ledgers = [
            _restore_dashboard(d, (), history_cap)[1] for d in written[name].ledgers
        ]
    return pipelines


def _checked(decode: Callable[[], schema.EngineState], config: EngineConfig) -> schema.EngineState:
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
            len(config.visit_bounds_s),
        )
    except schema.SchemaError as error:
        raise StateError(f"malformed engine state: {error}") from None
    return state
