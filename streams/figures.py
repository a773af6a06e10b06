"""The figures the engine answers with: plain immutable values, durations in microseconds.

Rounding to milliseconds and formatting happen at the edges (report, metrics),
so that sums and comparisons inside stay exact.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from streams.percentiles import count_at_most, nearest_rank, nearest_rank_of_runs

AGING_BUCKETS = ("0-7d", "8-14d", "15-30d", ">30d")


@dataclass(frozen=True, slots=True)
class LatencyFigures:
    """Latencies of the entries published (count, percentiles), and the SLA's verdicts.

    ``over_sla``: entries whose deadline (entered + SLA) passed before a covering
    publish, whether published since or still waiting (docs/kpis.md, "Over SLA").
    The share within SLA is of the entries decided: within + over.
    """

    count: int = 0
    p50_us: int | None = None
    p95_us: int | None = None
    p99_us: int | None = None
    max_us: int | None = None
    within_sla: int = 0
    sla_us: int = 0
    over_sla: int = 0

    @property
    def share_within_sla(self) -> Fraction | None:
        decided = self.within_sla + self.over_sla
        return Fraction(self.within_sla, decided) if decided else None

    @classmethod
    def of(
        cls,
        latencies_us: Iterable[int],
        sla_us: int,
        waiting_over_sla: int = 0,
        over_sla: int | None = None,
    ) -> LatencyFigures:
        """``waiting_over_sla``: over SLA and not published (as of T: the overdue backlog),
        added to the latencies over SLA; or ``over_sla`` given whole (a window's breaches
        are those whose deadline passed in it, not those published in it)."""
        ordered = sorted(latencies_us)
        if not ordered:
            return cls(sla_us=sla_us, over_sla=waiting_over_sla if over_sla is None else over_sla)
        within = bisect_right(ordered, sla_us)
        if over_sla is None:
            over_sla = len(ordered) - within + waiting_over_sla
        return cls(
            count=len(ordered),
            p50_us=nearest_rank(ordered, 50),
            p95_us=nearest_rank(ordered, 95),
            p99_us=nearest_rank(ordered, 99),
            max_us=ordered[-1],
            within_sla=within,
            sla_us=sla_us,
            over_sla=over_sla,
        )

    @classmethod
    def of_sorted_runs(
        cls,
        runs: Sequence[Sequence[int]],
        sla_us: int,
        waiting_over_sla: int = 0,
        over_sla: int | None = None,
    ) -> LatencyFigures:
        """``of`` the runs' values together, each run ascending (the parts of a merge):
        the same figures, without merging and sorting the runs."""
        count = sum(len(run) for run in runs)
        if not count:
            return cls(sla_us=sla_us, over_sla=waiting_over_sla if over_sla is None else over_sla)
        within = count_at_most(runs, sla_us)
        if over_sla is None:
            over_sla = count - within + waiting_over_sla
        return cls(
            count=count,
            p50_us=nearest_rank_of_runs(runs, 50),
            p95_us=nearest_rank_of_runs(runs, 95),
            p99_us=nearest_rank_of_runs(runs, 99),
            max_us=max(run[-1] for run in runs if len(run)),
            within_sla=within,
            sla_us=sla_us,
            over_sla=over_sla,
        )


@dataclass(frozen=True, slots=True)
class BacklogFigures:
    pending: int = 0
    oldest_age_us: int | None = None
    overdue: int = 0


@dataclass(frozen=True, slots=True)
class QueryFigures:
    awaiting_site: int = 0
    awaiting_dm: int = 0
    oldest_open_age_us: int | None = None
    aging: tuple[int, int, int, int] = (0, 0, 0, 0)
    # The same buckets split by state: (awaiting_site buckets, awaiting_dm buckets).
    aging_by_state: tuple[tuple[int, ...], tuple[int, ...]] = ((0, 0, 0, 0), (0, 0, 0, 0))

    @property
    def open(self) -> int:
        return self.awaiting_site + self.awaiting_dm


@dataclass(frozen=True, slots=True)
class DashboardFigures:
    latency: LatencyFigures
    backlog: BacklogFigures


@dataclass(frozen=True, slots=True)
class StudyFigures:
    dashboards: dict[str, DashboardFigures]
    queries: QueryFigures


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every figure of every study as of one instant."""

    as_of_us: int
    studies: dict[str, StudyFigures] = field(default_factory=dict)
    orphan_query_events: int = 0
