"""FSP oversight: the KPIs of each vendor and country side by side, and the sites behind breaches.

Contract, version 1 (docs/replay.md, "Scorecards"). As of T, for every value of a
dimension (vendor, country), over all studies together and per study:

* latency figures count each entry once per dashboard of its study, as the metrics
  do: ``entries`` entered by T, ``published`` by T with their nearest-rank p50/p95,
  ``within_sla``; ``pending`` and ``overdue`` (waiting longer than the SLA) at T;
  over SLA: published later than the SLA, or overdue; the share within SLA is of
  the entries decided (within + over SLA), so overdue entries lower it;
* queries belong to the site, country and vendor of their first event to arrive:
  ``open_queries`` at T, those open for more than 30 days, and the medians (nearest
  rank) of every time to answer and to close produced by their events up to T;
* an entry or query without a vendor (country) counts as ``UNASSIGNED``.

The spread between vendors is over vendors with a decided entry (not
``UNASSIGNED``, which is no vendor): the lowest, highest and population standard
deviation of their share within SLA. "Sites behind the breaches" ranks a study's
sites by entries over SLA as of T: published later than the SLA, or still waiting
past it. Site ids only: never a subject or record id.

Computed from the engine's breakdown groups, so the engine must split by site,
country and vendor (``EngineConfig.breakdown``); the figures are exact when nothing
was pruned (the replay keeps everything).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from schemas.timestamps import US_PER_DAY
from streams.engine import Engine
from streams.latency import (
    BUCKET_US,
    ENTERED_SHIFT,
    GroupLedger,
    keys_entered_before,
    overdue_before,
)
from streams.percentiles import nearest_rank_of_runs
from streams.queries import AWAITING_DM, AWAITING_SITE, Changes, fold_values

UNASSIGNED = "unassigned"
SCORECARD_DIMENSIONS = ("vendor", "country")
NEEDED_BREAKDOWN = ("site", "country", "vendor")
TOP_SITES = 10
OVER_30_DAYS_US = 30 * US_PER_DAY


@dataclass(frozen=True, slots=True)
class Scorecard:
    """The KPIs of one vendor or country; durations in microseconds."""

    entries: int = 0
    published: int = 0
    p50_us: int | None = None
    p95_us: int | None = None
    within_sla: int = 0
    pending: int = 0
    overdue: int = 0
    open_queries: int = 0
    queries_over_30d: int = 0
    answers: int = 0
    median_answer_us: int | None = None
    closes: int = 0
    median_close_us: int | None = None

    @property
    def over_sla(self) -> int:
        """Published later than the SLA, or still waiting past it (docs/kpis.md)."""
        return self.published - self.within_sla + self.overdue

    @property
    def share_within_sla(self) -> Fraction | None:
        """Of the entries decided as of T: within SLA, or over it (published late or overdue)."""
        decided = self.within_sla + self.over_sla
        return Fraction(self.within_sla, decided) if decided else None


@dataclass(frozen=True, slots=True)
class Spread:
    """How far apart the vendors' shares within SLA are."""

    vendors: int = 0
    min_share: Fraction | None = None
    max_share: Fraction | None = None
    stdev_share: float | None = None


@dataclass(frozen=True, slots=True)
class ScorecardSet:
    """Scorecards of one scope (all studies, or one study) by dimension, and the vendors' spread."""

    by_dimension: dict[str, dict[str, Scorecard]]
    vendor_spread: Spread


@dataclass(frozen=True, slots=True)
class SiteBreaches:
    site: str
    over_sla: int
    entries: int
    share_of_study_breaches: Fraction


@dataclass(frozen=True, slots=True)
class Scorecards:
    all_studies: ScorecardSet
    studies: dict[str, ScorecardSet] = field(default_factory=dict)
    sites_behind_breaches: dict[str, list[SiteBreaches]] = field(default_factory=dict)


@dataclass(slots=True)
class _Raw:
    """What a scorecard is made of, before percentiles: counts, and the durations as
    ascending runs (a group's, a grain's), which a scope gathers without merging them:
    its percentiles are taken over the runs (``nearest_rank_of_runs``). Sorting each
    scope's merged list was ~40% of a 1M-line replay's merge and report, every value
    sorted in four scopes."""

    entries: int = 0
    latencies: list[Sequence[int]] = field(default_factory=list)  # runs
    within_sla: int = 0
    pending: int = 0
    overdue: int = 0
    open_queries: int = 0
    queries_over_30d: int = 0
    answers: list[Sequence[int]] = field(default_factory=list)  # runs
    closes: list[Sequence[int]] = field(default_factory=list)  # runs

    def add(self, other: _Raw) -> None:
        self.entries += other.entries
        self.latencies += other.latencies
        self.within_sla += other.within_sla
        self.pending += other.pending
        self.overdue += other.overdue
        self.open_queries += other.open_queries
        self.queries_over_30d += other.queries_over_30d
        self.answers += other.answers
        self.closes += other.closes

    def card(self) -> Scorecard:
        latencies, answers, closes = self.latencies, self.answers, self.closes
        return Scorecard(
            entries=self.entries,
            published=sum(len(run) for run in latencies),
            p50_us=nearest_rank_of_runs(latencies, 50),
            p95_us=nearest_rank_of_runs(latencies, 95),
            within_sla=self.within_sla,
            pending=self.pending,
            overdue=self.overdue,
            open_queries=self.open_queries,
            queries_over_30d=self.queries_over_30d,
            answers=sum(len(run) for run in answers),
            median_answer_us=nearest_rank_of_runs(answers, 50),
            closes=sum(len(run) for run in closes),
            median_close_us=nearest_rank_of_runs(closes, 50),
        )


# (study, site, country, vendor): the finest grain, merged into every scope.
_Grain = tuple[str, str, str, str]


# Per grain its raw figures, and per (study, site) [entries over SLA, entries]: what
# engines fed disjoint shards of the input add up (replay --jobs).
ScorecardGrains = tuple[dict["_Grain", "_Raw"], dict[tuple[str, str], list[int]]]


def scorecards(engine: Engine, as_of_us: int) -> Scorecards:
    """Every scorecard as of T from the engine's groups (see the module docstring)."""
    return scorecards_of(*scorecard_grains(engine, as_of_us))


def merge_scorecard_grains(parts: Iterable[ScorecardGrains]) -> Scorecards:
    """The scorecards of several engines, each fed one shard (lists merged before medians)."""
    grains: dict[_Grain, _Raw] = {}
    breaches: dict[tuple[str, str], list[int]] = {}
    for part_grains, part_breaches in parts:
        for grain, raw in part_grains.items():
            known = grains.get(grain)
            if known is None:
                grains[grain] = raw
            else:
                known.add(raw)
        for site, (over_sla, entries) in part_breaches.items():
            counts = breaches.setdefault(site, [0, 0])
            counts[0] += over_sla
            counts[1] += entries
    return scorecards_of(grains, breaches)


# (study, dashboard) -> the ascending latencies of each of its groups as of T.
GroupRuns = dict[tuple[str, str], list[list[int]]]


def scorecard_grains(
    engine: Engine,
    as_of_us: int,
    runs: GroupRuns | None = None,
    changes: dict[str, list[Changes]] | None = None,
) -> ScorecardGrains:
    """One engine's raw figures per grain, before any scope is merged.

    ``runs``, when given, receives each group's ascending latencies as of T per study and
    dashboard: the snapshot's latencies of a dashboard are the union of its groups'
    (``snapshot_parts``), so the replay computes and sorts each latency once.
    ``changes``, when given, receives per study the changes of each query's fold over
    all its events, in the ledger's order: what the windows fold (``window_parts``). A
    query whose events are all at or before T folds once for both (the fold as of T
    stops at the first event after T: there is none); any other is folded again as of T.
    Only the changes are kept: the rest of a fold is the scorecards' alone.
    """
    breakdown = engine.config.breakdown
    missing = [d for d in NEEDED_BREAKDOWN if d not in breakdown]
    if missing:
        raise ValueError(f"scorecards need the engine's breakdown to include {missing}")
    site_at, country_at, vendor_at = (breakdown.index(d) for d in NEEDED_BREAKDOWN)
    grains: dict[_Grain, _Raw] = {}
    breaches: dict[tuple[str, str], list[int]] = {}  # (study, site) -> [over SLA, entries]

    def grain(study_id: str, key: tuple[str, ...]) -> _Raw:
        at = (study_id, key[site_at], key[country_at] or UNASSIGNED, key[vendor_at] or UNASSIGNED)
        known = grains.get(at)
        if known is None:
            known = grains[at] = _Raw()
        return known

    for study_id, study in engine.studies.items():
        sla_us = study.sla_us
        for name, ledger in study.dashboards.items():
            dashboard_runs: list[list[int]] = []
            if runs is not None:
                runs[(study_id, name)] = dashboard_runs
            for key, group in ledger.groups.items():
                raw, over_sla = _entries_as_of(group, as_of_us, sla_us)
                dashboard_runs.append(raw.latencies[0])  # type: ignore[arg-type]
                if raw.entries:
                    grain(study_id, key).add(raw)
                    site = breaches.setdefault((study_id, key[site_at]), [0, 0])
                    site[0] += over_sla
                    site[1] += raw.entries
        # The study's groups (few, queries many): their grain, and its answers and closes.
        by_key: dict[tuple[str, ...], tuple[_Raw, list[int], list[int]]] = {}
        study_changes: list[Changes] = []
        if changes is not None:
            changes[study_id] = study_changes
        for query in study.queries.queries.values():
            events = query.events
            if changes is None:
                folded = fold_values(events, as_of_us)
            else:
                folded = fold_values(events)
                study_changes.append(folded[5])
                if events and events[-1][0] > as_of_us:  # events sort by occurred time
                    folded = fold_values(events, as_of_us)
            state, opened_us, _orphans, answers, closes, _changes = folded
            if opened_us is None:
                continue  # never opened by T: orphan events only, no query yet
            # Added to its grain in place: a _Raw per query cost as much as its fold.
            known = by_key.get(query.group_key)
            if known is None:
                known = by_key[query.group_key] = (grain(study_id, query.group_key), [], [])
            known[1].extend(answers)
            known[2].extend(closes)
            if state in (AWAITING_SITE, AWAITING_DM):
                known[0].open_queries += 1
                known[0].queries_over_30d += int(as_of_us - opened_us > OVER_30_DAYS_US)
        for raw, answers, closes in by_key.values():  # a run per group of the study
            raw.answers.append(sorted(answers))
            raw.closes.append(sorted(closes))
    return grains, breaches


def scorecards_of(
    grains: dict[_Grain, _Raw], breaches: dict[tuple[str, str], list[int]]
) -> Scorecards:
    studies = sorted({g[0] for g in grains})
    return Scorecards(
        all_studies=_scorecard_set(grains.items()),
        studies={
            sid: _scorecard_set((g, raw) for g, raw in grains.items() if g[0] == sid)
            for sid in studies
        },
        sites_behind_breaches={sid: _top_sites(breaches, sid) for sid in studies},
    )


def _entries_as_of(group: GroupLedger, as_of_us: int, sla_us: int) -> tuple[_Raw, int]:
    """A group's entries as of T, and how many of them are over SLA (late or overdue).

    Reads the entry keys directly (entry time in the high bits, streams/latency.py):
    comprehensions over the ledger's dicts instead of a generator per entry, a third
    of the cost of the scorecards on a large replay.
    """
    entered_by = keys_entered_before(as_of_us + 1)  # key < this: entered ≤ T
    overdue_by = keys_entered_before(overdue_before(as_of_us, sla_us))  # key < this: overdue
    last_bucket = as_of_us // BUCKET_US  # buckets before it hold only entries entered by T
    latencies: list[int] = []
    waiting: list[int] = []
    for entries in group.pending.values():
        waiting += [key for key in entries if key < entered_by]
    # Entry times read inline (``entered_at``'s shift): no function call per entry.
    for bucket, published in group.published.items():
        if group.max_published[bucket] <= as_of_us and bucket < last_bucket:
            latencies += [when - (key >> ENTERED_SHIFT) for key, when in published.items()]
            continue  # the common case: the whole bucket entered and published by T
        latencies += [
            when - (key >> ENTERED_SHIFT)
            for key, when in published.items()
            if key < entered_by and when <= as_of_us
        ]
        waiting += [key for key, when in published.items() if key < entered_by and when > as_of_us]
    # Sorted once per group: a run of every scope the group's grain is in (_Raw).
    latencies.sort()
    within = bisect_right(latencies, sla_us)  # within_sla: latency ≤ SLA (streams/latency.py)
    overdue = len([key for key in waiting if key < overdue_by])
    raw = _Raw(
        entries=len(latencies) + len(waiting),
        latencies=[latencies],
        within_sla=within,
        pending=len(waiting),
        overdue=overdue,
    )
    return raw, len(latencies) - within + overdue


def _scorecard_set(grains: Iterable[tuple[_Grain, _Raw]]) -> ScorecardSet:
    merged: dict[str, dict[str, _Raw]] = {d: {} for d in SCORECARD_DIMENSIONS}
    for (_study, _site, country, vendor), raw in grains:
        for dimension, value in (("vendor", vendor), ("country", country)):
            merged[dimension].setdefault(value, _Raw()).add(raw)
    by_dimension = {
        dimension: {value: values[value].card() for value in sorted(values)}
        for dimension, values in merged.items()
    }
    return ScorecardSet(by_dimension, vendor_spread(by_dimension["vendor"]))


def vendor_spread(cards: dict[str, Scorecard]) -> Spread:
    shares = [
        card.share_within_sla
        for vendor, card in cards.items()
        if vendor != UNASSIGNED and card.share_within_sla is not None
    ]
    if not shares:
        return Spread()
    mean = sum(shares, Fraction(0)) / len(shares)
    variance = sum(((s - mean) ** 2 for s in shares), Fraction(0)) / len(shares)
    return Spread(len(shares), min(shares), max(shares), math.sqrt(variance))  # type: ignore[arg-type]


def _top_sites(breaches: dict[tuple[str, str], list[int]], study_id: str) -> list[SiteBreaches]:
    sites = [(site, counts) for (sid, site), counts in breaches.items() if sid == study_id]
    total = sum(counts[0] for _site, counts in sites)
    ranked = sorted(
        ((site, counts) for site, counts in sites if counts[0]),
        key=lambda item: (-item[1][0], item[0]),
    )
    return [
        SiteBreaches(site, over, entries, Fraction(over, total))
        for site, (over, entries) in ranked[:TOP_SITES]
    ]
