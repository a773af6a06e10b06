"""Pipeline stages: where an entry's latency accrues, and which owner each part is charged to.

The rule (docs/design.md, "Pipeline stages"; docs/contract.md): a dashboard's stages
s_1 … s_k are configured in order, and its publish completes the last one, s_k.

* A stage event of stage s_i covers an entry E as a publish would: E.entered_at ≤ its
  data_cutoff, or E.record_id in its record_ids and E.entered_at ≤ its completed_at.
  The completion c_i of s_i for E is the earliest completed_at among the stage-i events
  covering E (as of T: only those completed ≤ T), whatever order they arrive in.
* For an entry published at P (its latency's publish) the stage times are
  t_0 = entered_at, t_i = min(max(c_i, t_{i-1}), P) for i < k, t_k = P; a stage with no
  completion (missing) takes t_i = t_{i-1}, so its time is charged to the next stage that
  reported (ultimately the publish). Durations d_i = t_i − t_{i-1} are never negative,
  and they add up to P − entered_at, the entry's latency, exactly (integer µs).
* An entry pending as of T waits in the stage after the last stage that completed it
  by T (s_1 when none did).
* An entry published over its SLA (latency > SLA) is charged to the stage with the
  largest duration, i.e. the largest share of the SLA budget; a tie goes to the earliest
  of the tied stages in the configured order (the delay began upstream).

State: one ``DashboardLedger`` per stage before the publish, fed the dashboard's entries
under the same key (group bits cleared), whose "publishes" are the stage's events: its
``published_of`` is c_i. Its entries are kept exactly as long as the dashboard keeps
them (``Pipeline.prune``), so the figures as of T come from the retained state like
the latencies do, and live equals replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from heapq import heappush

from schemas.events import StageEvent
from streams.config import SITE_OWNER, SPONSOR_OWNER, EngineConfig, StageConfig
from streams.expiry import hour_heap, hours_before
from streams.latency import (
    BUCKET_US,
    ENTERED_SHIFT,
    SEQ_SHIFT,
    DashboardLedger,
    GroupKey,
    entered_at,
)
from streams.percentiles import nearest_rank

_NO_GROUP: GroupKey = ()


UNKNOWN_STAGE_REASON = (
    "pipeline.stage/1: stage: not a stage of the dashboard's pipeline before its publish"
)


def stage_problem(config: EngineConfig, event: StageEvent) -> str | None:
    """Why the engine would not apply a stage event (its one-line dead-letter reason; names
    no input value), or None. The router asks it, so live such events are dead-lettered."""
    stages = config.study(event.study_id).stages.get(event.dashboard)
    if stages is None or event.stage not in [stage.name for stage in stages[:-1]]:
        return UNKNOWN_STAGE_REASON
    return None


def owner_kind(owner: str) -> str:
    """``site``, ``sponsor`` or ``fsp``: the three sides a scorecard sets side by side."""
    return owner if owner in (SITE_OWNER, SPONSOR_OWNER) else "fsp"


def stage_durations(
    entered_us: int, published_us: int, completions: Iterable[int | None], as_of_us: int
) -> list[int]:
    """The durations of an entry's stages (the rule above); they add up to its latency."""
    durations: list[int] = []
    previous = entered_us
    for completed in completions:
        if completed is not None and completed <= as_of_us:
            at = completed if completed > previous else previous
            if at > published_us:
                at = published_us
        else:
            at = previous
        durations.append(at - previous)
        previous = at
    durations.append(published_us - previous)
    return durations


def waiting_stage(completions: Iterable[int | None], as_of_us: int) -> int:
    """The index of the stage a pending entry waits in as of T."""
    waiting = 0
    for i, completed in enumerate(completions):
        if completed is not None and completed <= as_of_us:
            waiting = i + 1
    return waiting


def charged_stage(durations: list[int]) -> int:
    """The stage a breach is charged to: the largest duration, the earliest on a tie."""
    best = 0
    for i in range(1, len(durations)):
        if durations[i] > durations[best]:
            best = i
    return best


class Pipeline:
    """The stages of one study's dashboard, and the completions of its entries."""

    __slots__ = ("index", "ledgers", "stages")

    def __init__(
        self, stages: tuple[StageConfig, ...], sla_us: int, history_cap: int | None = None
    ) -> None:
        self.stages = stages
        # Stage events name the stages before the publish; the publish completes the last.
        self.index = {stage.name: i for i, stage in enumerate(stages[:-1])}
        # history_cap: as the dashboards' (streams/engine.py), so stage events do not grow the
        # ledgers' publish instants without bound in live use.
        self.ledgers = [DashboardLedger(sla_us, (), history_cap) for _ in stages[:-1]]

    def add_entry(self, record_id: str, entered_us: int, seq: int) -> None:
        for ledger in self.ledgers:
            ledger.add_entry(record_id, entered_us, seq, _NO_GROUP)

    def apply(self, event: StageEvent, clock_us: int) -> bool:
        """Apply a stage event; False when it names no stage before the publish."""
        i = self.index.get(event.stage)
        if i is None:
            return False
        ledger = self.ledgers[i]
        ledger.note_publish(event.completed_at)
        if event.data_cutoff is not None:
            ledger.apply_snapshot(event.data_cutoff, event.completed_at, clock_us)
        else:
            ledger.apply_records(event.record_ids, event.completed_at, clock_us)  # type: ignore[arg-type]
        return True

    def completions(self, key: int) -> list[int | None]:
        """c_i of the entry with the dashboard's key ``key``, per stage before the publish."""
        return completions_of(self.completed_in(entered_at(key) // BUCKET_US), key)

    def completed_in(self, bucket: int) -> list[dict[int, int] | None]:
        """Per stage before the publish, the completions of the entries of one hour bucket
        (stage ledger key -> c_i), or None where it completed none: looked up once per
        bucket by ``observe``, not once per entry and stage."""
        return [
            ledger.group_list[0].published.get(bucket) if ledger.group_list else None
            for ledger in self.ledgers
        ]

    def prune(self, horizon_us: int, dashboard: DashboardLedger) -> None:
        """Forget the completions of entries the dashboard forgot, then old stage events."""
        retaining = list(dashboard.groups.values())

        def retained(hour: int) -> bool:
            return any(hour in g.pending or hour in g.published for g in retaining)

        # (h + 1) * BUCKET_US <= horizon_us, for whole hours h: h < horizon_us // BUCKET_US
        limit_hour = horizon_us // 60_000_000 // 60
        for ledger in self.ledgers:
            for group in ledger.group_list:
                # The hours leaving the horizon off heaps filed as entries come
                # (streams/expiry.py); those the dashboard still holds wait for a later pruning.
                if group.published_heap is None:
                    group.published_heap = hour_heap(group.published)
                held: list[int] = []
                for hour in hours_before(group.published_heap, limit_hour, group.published):
                    if retained(hour):
                        held.append(hour)
                        continue
                    keys = group.published.pop(hour)
                    del group.max_published[hour]
                    for record_id in group.published_records.pop(hour):
                        ledger._unindex(record_id, keys)
                for hour in held:
                    heappush(group.published_heap, hour)
                if group.pending_heap is None:
                    group.pending_heap = hour_heap(group.pending)
                held = []
                for hour in hours_before(group.pending_heap, limit_hour, group.pending):
                    if retained(hour):
                        held.append(hour)
                        continue
                    waiting = group.pending.pop(hour)
                    for record_id in waiting.values():
                        ledger._unindex(record_id, waiting)  # type: ignore[arg-type]
                for hour in held:
                    heappush(group.pending_heap, hour)
            ledger.prune_publishes(horizon_us)


@dataclass(slots=True)
class StageObservations:
    """What the figures of one study's dashboard pipeline are made of, as of T; shards'
    observations merge by adding (``merge``)."""

    stages: tuple[StageConfig, ...]
    sla_us: int
    durations: list[list[int]] = field(default_factory=list)  # per stage, of entries published
    pending: list[int] = field(default_factory=list)  # per stage: entries waiting in it
    # Per breakdown group: breaches charged to each stage.
    breaches: dict[GroupKey, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.durations:
            self.durations = [[] for _ in self.stages]
        if not self.pending:
            self.pending = [0] * len(self.stages)

    def merge(self, other: StageObservations) -> None:
        for mine, theirs in zip(self.durations, other.durations, strict=True):
            mine.extend(theirs)
        self.pending = [a + b for a, b in zip(self.pending, other.pending, strict=True)]
        for key, counts in other.breaches.items():
            mine_counts = self.breaches.setdefault(key, [0] * len(self.stages))
            for i, n in enumerate(counts):
                mine_counts[i] += n


def completions_of(completed: list[dict[int, int] | None], key: int) -> list[int | None]:
    """c_i of the entry with the dashboard's key ``key`` from ``Pipeline.completed_in`` of
    its hour bucket."""
    # The stage ledgers hold one group: the key with its group index cleared, i.e.
    # entry_key(entered_at(key), arrival(key), 0), written out (once per entry).
    stage_key = key >> SEQ_SHIFT << SEQ_SHIFT
    return [None if published is None else published.get(stage_key) for published in completed]


def observe(
    ledger: DashboardLedger, pipeline: Pipeline, sla_us: int, as_of_us: int
) -> StageObservations:
    """The stage observations of one dashboard as of T, from the retained entries."""
    out = StageObservations(pipeline.stages, sla_us)
    durations, pending = out.durations, out.pending
    for group in ledger.groups.values():
        charged = None
        for bucket, entries in group.pending.items():
            completed = pipeline.completed_in(bucket)
            for key in entries:
                if key >> ENTERED_SHIFT <= as_of_us:  # entered_at(key), inline
                    pending[waiting_stage(completions_of(completed, key), as_of_us)] += 1
        for bucket, published in group.published.items():
            completed = pipeline.completed_in(bucket)
            for key, published_us in published.items():
                entered_us = key >> ENTERED_SHIFT  # entered_at(key), inline
                if entered_us > as_of_us:
                    continue
                completions = completions_of(completed, key)
                if published_us > as_of_us:
                    pending[waiting_stage(completions, as_of_us)] += 1
                    continue
                parts = stage_durations(entered_us, published_us, completions, as_of_us)
                for i, duration in enumerate(parts):
                    durations[i].append(duration)
                if published_us - entered_us > sla_us:
                    if charged is None:
                        charged = out.breaches.setdefault(group.key, [0] * len(parts))
                    charged[charged_stage(parts)] += 1
    return out


@dataclass(frozen=True, slots=True)
class StageFigures:
    """One stage's figures as of T (durations of the entries published by then)."""

    name: str
    owner: str
    budget_us: int | None
    count: int
    p50_us: int | None
    p95_us: int | None
    max_us: int | None
    sum_us: int
    pending: int
    breaches_charged: int
    # Of the SLA budget of the entries published: sum of this stage's durations / (n · SLA).
    share_of_sla: Fraction | None


@dataclass(frozen=True, slots=True)
class PipelineFigures:
    stages: tuple[StageFigures, ...]
    breaches: int  # entries published over SLA, each charged to one stage
    breaches_by_owner: dict[str, int]  # in the configured order of first appearance
    breaches_by_group: dict[GroupKey, tuple[int, ...]]  # per group, per stage

    @classmethod
    def of(cls, observed: StageObservations) -> PipelineFigures:
        charged = [0] * len(observed.stages)
        for counts in observed.breaches.values():
            for i, n in enumerate(counts):
                charged[i] += n
        stages = []
        for i, stage in enumerate(observed.stages):
            ordered = sorted(observed.durations[i])
            total = sum(ordered)
            stages.append(
                StageFigures(
                    name=stage.name,
                    owner=stage.owner,
                    budget_us=stage.budget_us,
                    count=len(ordered),
                    p50_us=nearest_rank(ordered, 50),
                    p95_us=nearest_rank(ordered, 95),
                    max_us=ordered[-1] if ordered else None,
                    sum_us=total,
                    pending=observed.pending[i],
                    breaches_charged=charged[i],
                    share_of_sla=Fraction(total, len(ordered) * observed.sla_us)
                    if ordered
                    else None,
                )
            )
        by_owner: dict[str, int] = {}
        for stage, n in zip(observed.stages, charged, strict=True):
            by_owner[stage.owner] = by_owner.get(stage.owner, 0) + n
        return cls(
            tuple(stages),
            sum(charged),
            by_owner,
            {key: tuple(counts) for key, counts in sorted(observed.breaches.items())},
        )
