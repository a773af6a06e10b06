"""The engine: validated events in, in arrival order; figures out, as of any instant.

Pure and deterministic: no I/O, no clock (every instant is a parameter), no
iteration over hash-ordered sets. The live agents and the audit replay both
drive this class, which is why they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from schemas.events import EntryEvent, Event, PublishEvent, QueryEvent, StageEvent
from schemas.timestamps import US_PER_HOUR
from streams.config import BREAKDOWN_DIMENSIONS, EngineConfig, bounds_us
from streams.dedupe import EventIdMemory
from streams.figures import (
    BacklogFigures,
    DashboardFigures,
    LatencyFigures,
    QueryFigures,
    Snapshot,
    StudyFigures,
)
from streams.freshness import UPTIME_WINDOW_US, Freshness, FreshnessHistory, freshness
from streams.latency import DashboardLedger, GroupKey, TrackedEntry
from streams.queries import QueryLedger
from streams.schedules import CADENCE_HISTORY
from streams.stages import Pipeline, PipelineFigures, StageObservations, observe
from streams.state import engine_state, restore_parts
from streams.tally import Tally
from streams.visits import PACK_FACTOR, VISIT_STARTS, VisitLedger, visit_ledger
from streams.watermarks import InputMark, InputWatermarks

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
UNKNOWN_DASHBOARD = "unknown_dashboard"
UNKNOWN_STAGE = "unknown_stage"  # a stage event naming no stage configured before the publish

# Pruning walks the state, so it runs when event time has moved on by this much.
PRUNE_EVERY_US = US_PER_HOUR


@dataclass(slots=True)
class Counters:
    """What happened to the valid events fed so far (invalid ones never reach the engine)."""

    accepted: int = 0
    duplicates: int = 0
    unknown_dashboard: int = 0
    late: int = 0  # older than the retention horizon when they arrived
    evicted_ids: int = 0  # event ids forgotten early by max_event_ids (not in checkpoints)
    unknown_stage: int = 0


class StudyState:
    __slots__ = (
        "dashboards",
        "first_seen_us",
        "ledgers",
        "pipelines",
        "queries",
        "sla_us",
        "staged",
        "visits",
    )

    def __init__(
        self,
        sla_us: int,
        dashboards: dict[str, DashboardLedger],
        queries: QueryLedger,
        visits: VisitLedger,
        pipelines: dict[str, Pipeline] | None = None,
    ):
        self.sla_us = sla_us
        self.dashboards = dashboards
        self.ledgers = tuple(dashboards.values())  # the same, for the per-entry loop
        self.queries = queries
        self.visits = visits  # visit to entry (streams/visits.py): per study, not per dashboard
        self.first_seen_us: int | None = None
        # Dashboards with configured stages (streams/stages.py); most have none, and their
        # entries pay one loop over an empty tuple.
        self.pipelines = pipelines or {}
        self.staged = tuple(self.pipelines.values())


class Engine:
    def __init__(self, config: EngineConfig | None = None, ids_deduplicated: bool = False) -> None:
        """``ids_deduplicated``: the feed drops every later event of an event id itself (the
        audit replay's readers, where the first valid line of an id wins), so this engine
        keeps no memory of ids and counts no duplicates: the feed counts them. The live
        shards read topics that may repeat anything, and keep the memory."""
        self.config = config or EngineConfig()
        self._ids_deduplicated = ids_deduplicated
        self._retention_us = self.config.retention_us
        self._max_event_ids = self.config.max_event_ids
        self._max_hold_us = self.config.max_hold_us
        self._breakdown = self.config.breakdown
        self._group_key = group_key_function(self._breakdown)
        self._latency_bounds = bounds_us(self.config.latency_bounds_s)
        self._query_bounds = bounds_us(self.config.query_bounds_s)
        self.studies: dict[str, StudyState] = {}
        self.event_ids = EventIdMemory()
        self.counters = Counters()
        self.watermark_us: int | None = None  # newest event time seen
        # Fed by the live router: its inputs' progress, and the low watermark over them
        # (None: every input idle, or not fed by inputs; the own watermark leads then).
        self.inputs: InputWatermarks | None = None
        self._low_us: int | None = None
        # The newest event time any input reported: with it, a shard that receives nothing
        # still sees deadlines pass as one engine fed every input would (``deadline_clock``).
        self._inputs_high_us: int | None = None
        self.earliest_us: int | None = None  # oldest event time seen
        self._seq = 0
        self._pruned_at_us: int | None = None
        # The last entry applied, its seq and breakdown group, for last_tracked.
        self._last_entry: EntryEvent | None = None
        self._last_entry_seq = 0
        self.last_entry_group: GroupKey = ()  # of the last entry applied, for the replay's rows

    # -- state ----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything this engine holds, as plain values (the layout: streams/state.py)."""
        return engine_state(self)

    @classmethod
    def from_state(cls, config: EngineConfig, state: dict[str, Any]) -> Engine:
        """An engine that continues exactly like the one the state was taken from.

        Raises ``streams.state.StateError`` for a state it cannot take.
        """
        parts = restore_parts(config, state)
        engine = cls(config)
        engine.counters = Counters(*parts.counters)
        engine.watermark_us, engine.earliest_us = parts.watermark_us, parts.earliest_us
        engine._seq, engine._pruned_at_us = parts.seq, parts.pruned_at_us
        if parts.inputs is not None:
            engine.track_inputs()
            engine.inputs.note(*parts.inputs)  # type: ignore[union-attr]
            engine.inputs_changed()
        engine._last_entry, engine._last_entry_seq = parts.last_entry, parts.last_entry_seq
        engine.event_ids = parts.event_ids
        for study_id, sla_us, first_seen_us, dashboards, queries, visits, pipelines in parts.studies:
            restored = StudyState(sla_us, dashboards, queries, visits, pipelines)
            restored.first_seen_us = first_seen_us
            engine.studies[study_id] = restored
        return engine

    # What the state (streams/state.py) reads beyond the public attributes.

    @property
    def seq(self) -> int:
        """How many valid events were applied (each event's arrival number is taken from it)."""
        return self._seq

    @property
    def pruned_at_us(self) -> int | None:
        """The horizon base of the last pruning (None: never pruned)."""
        return self._pruned_at_us

    @property
    def last_entry(self) -> EntryEvent | None:
        """The last entry applied (for ``last_tracked``)."""
        return self._last_entry

    # -- feeding -------------------------------------------------------------------

    def study(self, study_id: str) -> StudyState:
        state = self.studies.get(study_id)
        if state is None:
            study = self.config.study(study_id)
            # Bounded in live use; the replay (no retention) keeps every publish instant.
            cap = None if self._retention_us is None else CADENCE_HISTORY
            dashboards = {
                name: DashboardLedger(study.sla_us, self._latency_bounds, cap)
                for name in study.dashboards
            }
            pipelines = {
                name: Pipeline(stages, study.sla_us, cap) for name, stages in study.stages.items()
            }
            state = StudyState(
                study.sla_us,
                dashboards,
                QueryLedger(self._query_bounds),
                self.visit_ledger(),
                pipelines,
            )
            self.studies[study_id] = state
        return state

    def visit_ledger(self) -> VisitLedger:
        return visit_ledger(self.config)

    def apply(self, event: Event) -> str:
        """Feed one valid event; returns ACCEPTED, DUPLICATE, UNKNOWN_DASHBOARD or UNKNOWN_STAGE."""
        # The hot path of both the live shards and the replay: dispatch on the exact
        # type once, and keep attribute look-ups and calls out of the common case.
        kind = event.__class__
        if kind is EntryEvent:
            time_us = event.entered_at  # type: ignore[union-attr]
        elif kind is PublishEvent:
            time_us = event.published_at  # type: ignore[union-attr]
        elif kind is QueryEvent:
            time_us = event.occurred_at  # type: ignore[union-attr]
        else:
            time_us = event.completed_at  # type: ignore[union-attr]
        retention = self._retention_us
        if not self._ids_deduplicated:
            event_id = event.event_id
            ids = self.event_ids
            seen = ids.seen
            if event_id in seen:
                self.counters.duplicates += 1
                return DUPLICATE
            if retention is None:
                seen[event_id] = 0  # never pruned, so not filed by hour either
            # EventIdMemory.remember, its common case; US_PER_HOUR written out (latency.py)
            elif time_us // 60_000_000 // 60 == ids.hour:
                seen[event_id] = ids.hour
                ids.hour_ids.append(event_id)
            else:
                ids.remember(event_id, time_us)
            cap = self._max_event_ids
            if cap is not None and len(seen) > cap:
                # A slab at a time: evicting per event would cost a sort and a list shift each.
                self.counters.evicted_ids += ids.evict(cap - (cap >> 6))
        seq = self._seq = self._seq + 1
        watermark = self.watermark_us
        if watermark is None or time_us > watermark:
            watermark = self.watermark_us = time_us
        earliest = self.earliest_us
        if earliest is None or time_us < earliest:
            self.earliest_us = time_us
        if retention is not None:
            base = self._low_us
            if base is None:
                base = watermark
            elif base < watermark - self._max_hold_us:
                base = watermark - self._max_hold_us
            if time_us < base - retention:
                self.counters.late += 1
        study = self.studies.get(event.study_id) or self.study(event.study_id)
        first_seen = study.first_seen_us
        if first_seen is None or time_us < first_seen:
            study.first_seen_us = time_us
        if kind is EntryEvent:
            key = self._group_key(event) if self._breakdown else ()  # type: ignore[arg-type]
            record_id = event.record_id  # type: ignore[union-attr]
            for ledger in study.ledgers:
                ledger.add_entry(record_id, time_us, seq, key)
            if study.staged:  # most studies have none: no iterator made for an empty loop
                for pipeline in study.staged:
                    pipeline.add_entry(record_id, time_us, seq)
            visit_date = event.visit_date  # type: ignore[union-attr]
            if visit_date is None:  # VisitLedger.add's first case, without the call
                study.visits.without_visit_date += 1
            else:
                # VisitLedger.add's common case written out (the call was a third of what a
                # visit date cost, callgrind): a date seen before, entered on or after it,
                # in a group that has a VisitGroup already. Anything else: the call.
                start = VISIT_STARTS.get(visit_date)
                group = study.visits.groups.get(key)
                if start is not None and group is not None and time_us >= start:
                    # pack(time_us, time_us - start) as one multiply: the value is below
                    # 2**VALUE_BITS, so adding it is or-ing it (one big int made, not two).
                    group.recent.append(time_us * PACK_FACTOR - start)
                else:
                    study.visits.add(key, visit_date, time_us)
            self._last_entry = event  # type: ignore[assignment]
            self._last_entry_seq = seq
            self.last_entry_group = key
        elif kind is PublishEvent:
            ledger = study.dashboards.get(event.dashboard)  # type: ignore[union-attr]
            if ledger is None:
                self.counters.unknown_dashboard += 1
                return UNKNOWN_DASHBOARD
            ledger.note_publish(time_us)
            # Whether an entry was already counted over SLA is judged by the clock the
            # count used (over_sla_by_group): the same clock, so the counter never drops.
            high = self._inputs_high_us
            clock = watermark if high is None or high < watermark else high
            if event.data_cutoff is not None:  # type: ignore[union-attr]
                ledger.apply_snapshot(event.data_cutoff, time_us, clock)  # type: ignore[union-attr]
            else:
                ledger.apply_records(event.record_ids, time_us, clock)  # type: ignore[union-attr,arg-type]
        elif kind is StageEvent:
            pipeline = study.pipelines.get(event.dashboard)  # type: ignore[union-attr]
            high = self._inputs_high_us
            clock = watermark if high is None or high < watermark else high
            if pipeline is None or not pipeline.apply(event, clock):  # type: ignore[arg-type]
                self.counters.unknown_stage += 1
                return UNKNOWN_STAGE
        else:
            study.queries.apply(
                event.query_id,  # type: ignore[union-attr]
                event.status,  # type: ignore[union-attr]
                time_us,
                seq,
                self._group_key(event) if self._breakdown else (),  # type: ignore[arg-type]
            )
        self.counters.accepted += 1
        if retention is not None and (
            self._pruned_at_us is None or base - self._pruned_at_us >= PRUNE_EVERY_US
        ):
            self._prune(base, base - retention)
        return ACCEPTED

    @property
    def last_entry_seq(self) -> int:
        """The arrival number of the last entry applied (with ``last_entry_group``, it locates
        that entry on each dashboard: what the replay keeps per entry row)."""
        return self._last_entry_seq

    @property
    def last_tracked(self) -> list[TrackedEntry]:
        """Views of the last entry applied, one per dashboard of its study (in their order).

        Made on request: only the replay asks, and the hot path does not pay for them.
        """
        event = self._last_entry
        if event is None:
            return []
        study = self.studies[event.study_id]
        key = self._group_key(event) if self._breakdown else ()
        return [
            ledger.view(event.record_id, event.entered_at, self._last_entry_seq, key)
            for ledger in study.ledgers
        ]

    def apply_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event)

    # -- the low watermark (streams/watermarks.py) -----------------------------------------

    def track_inputs(self) -> None:
        """From now on the horizon follows the inputs' low watermark, held until they report."""
        if self.inputs is None:
            self.inputs = InputWatermarks()
            self._low_us = self.inputs.low()

    def note_inputs(self, marks: list[InputMark], partitions: list[int] | None = None) -> None:
        """The router's report of its inputs' progress (and of how many partitions each
        input topic has); may move the horizon and prune."""
        self.track_inputs()
        self.inputs.note(marks, partitions or ())  # type: ignore[union-attr]
        self.inputs_changed()
        base = self.horizon_base_us()
        retention = self._retention_us
        if (
            retention is not None
            and base is not None
            and (self._pruned_at_us is None or base - self._pruned_at_us >= PRUNE_EVERY_US)
        ):
            self._prune(base, base - retention)

    def horizon_base_us(self) -> int | None:
        """The event time the retention horizon trails by ``retention``: the low watermark
        over the inputs, never more than ``max_hold`` behind the own watermark."""
        watermark = self.watermark_us
        base = self._low_us
        if watermark is None:
            return base if base is not None and self.inputs is not None else None
        if base is None:
            return watermark
        return max(base, watermark - self._max_hold_us)

    def held_back(self) -> tuple[int, int]:
        """(µs the horizon trails the own watermark's, event ids kept only for that reason)."""
        retention = self._retention_us
        watermark = self.watermark_us
        base = self.horizon_base_us()
        if retention is None or watermark is None or base is None or base >= watermark:
            return 0, 0
        own_horizon = watermark - retention
        ids = sum(
            len(bucket)
            for hour, bucket in list(self.event_ids.by_hour.items())
            if (hour + 1) * US_PER_HOUR <= own_horizon
        )
        return watermark - base, ids

    def _prune(self, base: int, horizon: int) -> None:
        """Forget what can no longer change an answer (docs/design.md, "Retention")."""
        self._pruned_at_us = base
        self.event_ids.prune(horizon)
        clock = self.deadline_clock()
        for study in self.studies.values():
            for ledger in study.dashboards.values():
                ledger.prune(horizon)
                if clock is not None:
                    ledger.freshness.compact(clock)
            for name, pipeline in study.pipelines.items():
                pipeline.prune(horizon, study.dashboards[name])
                if clock is not None:  # stage ledgers keep publish histories too: bound them
                    for stage_ledger in pipeline.ledgers:
                        stage_ledger.freshness.compact(clock)
            study.queries.prune(horizon)
            study.visits.prune(horizon)

    # -- answering -----------------------------------------------------------------

    def iter_groups(self) -> Iterator[tuple[str, str, GroupKey, DashboardLedger]]:
        for study_id, study in self.studies.items():
            for dashboard, ledger in study.dashboards.items():
                for key in ledger.groups:
                    yield study_id, dashboard, key, ledger

    def latency_tallies(self) -> Iterator[tuple[str, str, GroupKey, Tally]]:
        """Cumulative latency observations per study, dashboard and group (the live histogram)."""
        for study_id, dashboard, key, ledger in self.iter_groups():
            yield study_id, dashboard, key, ledger.groups[key].tally

    def visit_ledgers(self) -> Iterator[tuple[str, VisitLedger]]:
        """Each study's visit to entry (streams/visits.py)."""
        for study_id, study in self.studies.items():
            yield study_id, study.visits

    def inputs_changed(self) -> None:
        """Derive what follows from the inputs' progress (after a report, or a restore)."""
        self._low_us = self.inputs.low()  # type: ignore[union-attr]
        self._inputs_high_us = self.inputs.high()  # type: ignore[union-attr]

    def deadline_clock(self) -> int | None:
        """The event time deadlines have passed by: the newest event time this engine saw
        or any of its inputs reported. A shard fed by the router hears every input's
        progress, so shards agree with one engine fed every event even when a shard's own
        events stop (a vendor that stops publishing still burns its budget)."""
        watermark, high = self.watermark_us, self._inputs_high_us
        if high is None or (watermark is not None and watermark >= high):
            return watermark
        return high

    def over_sla_by_group(self) -> Iterator[tuple[str, str, GroupKey, int]]:
        """Entries counted over SLA per study, dashboard and group (the live counter).

        Deadlines pass by the engine's clock (``deadline_clock``: event time, never the
        wall clock): the replay as of that instant, of the same events, counts the same
        less ``Tally.breaches_withdrawn`` (streams/latency.py, "Breaches").
        """
        clock = self.deadline_clock()
        for study_id, dashboard, key, ledger in self.iter_groups():
            group = ledger.groups[key]
            yield study_id, dashboard, key, 0 if clock is None else group.over_sla(clock)

    def backlog_by_group(
        self, as_of_us: int
    ) -> Iterator[tuple[str, str, GroupKey, BacklogFigures]]:
        for study_id, dashboard, key, ledger in self.iter_groups():
            yield study_id, dashboard, key, ledger.groups[key].backlog(as_of_us)

    def query_figures_by_group(self, as_of_us: int) -> Iterator[tuple[str, GroupKey, QueryFigures]]:
        for study_id, study in self.studies.items():
            figures, _orphans = study.queries.figures(as_of_us)
            for key, value in figures.items():
                yield study_id, key, value

    def freshness_histories(self) -> Iterator[tuple[str, str, FreshnessHistory, int | None]]:
        """(study, dashboard, its freshness history, its first entry) of every dashboard."""
        for study_id, study in self.studies.items():
            for dashboard, ledger in study.dashboards.items():
                yield study_id, dashboard, ledger.freshness, ledger.first_entered_us

    def freshness(
        self,
        as_of_us: int,
        thresholds_us: Callable[[str, str], tuple[int, int]],
        clock_us: int | None = None,
        window_us: int = UPTIME_WINDOW_US,
    ) -> dict[tuple[str, str], Freshness]:
        """Publish and data freshness as of T, and the uptime minutes of the 30 days before
        T (streams/freshness.py), of every dashboard of every study seen by T.

        ``thresholds_us``: (publish, data) threshold of a study's dashboard. ``clock_us``:
        the input clock (default ``deadline_clock``); minutes after it are unknown. Exact as
        of any T without retention; with it, as of T at or after the clock.
        """
        clock = self.deadline_clock() if clock_us is None else clock_us
        figures: dict[tuple[str, str], Freshness] = {}
        for study_id in sorted(self.studies):
            study = self.studies[study_id]
            if study.first_seen_us is None or study.first_seen_us > as_of_us:
                continue
            for dashboard in sorted(study.dashboards):
                ledger = study.dashboards[dashboard]
                publish_after, data_after = thresholds_us(study_id, dashboard)
                figures[(study_id, dashboard)] = freshness(
                    ledger.freshness, ledger.first_entered_us, as_of_us, clock,
                    publish_after, data_after, window_us,
                )  # fmt: skip
        return figures

    def entries(self, study_id: str, dashboard: str) -> Iterator[TrackedEntry]:
        """Retained entries of a study on a dashboard (all of them when retention is None)."""
        for group in self.studies[study_id].dashboards[dashboard].groups.values():
            yield from group.iter_entries()

    def snapshot(self, as_of_us: int) -> Snapshot:
        """Every figure of every study as of T, from the retained state."""
        studies: dict[str, StudyFigures] = {}
        orphans = 0
        for study_id in sorted(self.studies):
            study = self.studies[study_id]
            if study.first_seen_us is None or study.first_seen_us > as_of_us:
                continue
            dashboards: dict[str, DashboardFigures] = {}
            for name in sorted(study.dashboards):
                dashboards[name] = self._dashboard_figures(study, name, as_of_us)
            by_group, study_orphans = study.queries.figures(as_of_us)
            orphans += study_orphans
            studies[study_id] = StudyFigures(dashboards, merge_query_figures(by_group.values()))
        return Snapshot(as_of_us, studies, orphans)

    def stage_observations(self, as_of_us: int) -> Iterator[tuple[str, str, StageObservations]]:
        """Per study and dashboard with stages: what its stage figures as of T are made of."""
        for study_id in sorted(self.studies):
            study = self.studies[study_id]
            for name in sorted(study.pipelines):
                ledger = study.dashboards[name]
                yield study_id, name, observe(ledger, study.pipelines[name], study.sla_us, as_of_us)

    def pipeline_figures(self, as_of_us: int) -> dict[str, dict[str, PipelineFigures]]:
        """Stage figures per study and dashboard with stages, as of T (streams/stages.py)."""
        out: dict[str, dict[str, PipelineFigures]] = {}
        for study_id, dashboard, observed in self.stage_observations(as_of_us):
            out.setdefault(study_id, {})[dashboard] = PipelineFigures.of(observed)
        return out

    def _dashboard_figures(self, study: StudyState, name: str, as_of_us: int) -> DashboardFigures:
        ledger = study.dashboards[name]
        latencies = [
            published - entered
            for group in ledger.groups.values()
            for entered, published in group.iter_times()
            if published is not None and published <= as_of_us
        ]
        backlog = merge_backlogs(group.backlog(as_of_us) for group in ledger.groups.values())
        return DashboardFigures(
            LatencyFigures.of(latencies, study.sla_us, backlog.overdue), backlog
        )


def group_key(event: EntryEvent | QueryEvent, breakdown: tuple[str, ...]) -> GroupKey:
    """The breakdown group of an entry or query: its values of the chosen dimensions."""
    key = []
    for dimension in breakdown:
        if dimension == "site":
            key.append(event.site_id)
        elif dimension == "country":
            key.append(event.country or "")
        else:
            key.append(event.vendor or "")
    return tuple(key)


def group_key_function(breakdown: tuple[str, ...]) -> Callable[[EntryEvent | QueryEvent], GroupKey]:
    """``group_key`` for one breakdown, made once. The engine asks it for every entry and
    query; the replay's breakdown (every dimension) gets a tuple built directly, about a
    quarter of the cost of the loop over the dimensions."""
    if breakdown == BREAKDOWN_DIMENSIONS:
        return _site_country_vendor
    return partial(group_key, breakdown=breakdown)  # module-level both: engines are pickled


def _site_country_vendor(event: EntryEvent | QueryEvent) -> GroupKey:
    return (event.site_id, event.country or "", event.vendor or "")


def merge_backlogs(parts: Iterable[BacklogFigures]) -> BacklogFigures:
    pending = overdue = 0
    oldest: int | None = None
    for part in parts:
        pending += part.pending
        overdue += part.overdue
        if part.oldest_age_us is not None and (oldest is None or part.oldest_age_us > oldest):
            oldest = part.oldest_age_us
    return BacklogFigures(pending, oldest, overdue)


def merge_query_figures(parts: Iterable[QueryFigures]) -> QueryFigures:
    site = dm = 0
    aging = [0, 0, 0, 0]
    by_state = [[0, 0, 0, 0], [0, 0, 0, 0]]
    oldest: int | None = None
    for part in parts:
        site += part.awaiting_site
        dm += part.awaiting_dm
        for i, n in enumerate(part.aging):
            aging[i] += n
        for state, buckets in enumerate(part.aging_by_state):
            for i, n in enumerate(buckets):
                by_state[state][i] += n
        if part.oldest_open_age_us is not None and (
            oldest is None or part.oldest_open_age_us > oldest
        ):
            oldest = part.oldest_open_age_us
    return QueryFigures(
        site,
        dm,
        oldest,
        (aging[0], aging[1], aging[2], aging[3]),
        (tuple(by_state[0]), tuple(by_state[1])),
    )
