"""Figures in mergeable parts: several engines, each fed one shard of the input, answer
together exactly what one engine fed everything answers.

Under the live partitioning (docs/design.md, "Scale-out") every entry lives in one
shard with every publish that can cover it, and every query in one shard with all its
events. So per study and dashboard the latencies of all shards together are the
latencies of one engine (kept whole: percentiles are taken of the merged list, never
averaged), backlogs add up (the oldest is the oldest of any shard), and open queries
add up per state and bucket. A study is present when any shard has seen it by T: its
first event is in some shard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streams.engine import Engine, merge_backlogs, merge_query_figures
from streams.figures import (
    BacklogFigures,
    DashboardFigures,
    LatencyFigures,
    QueryFigures,
    Snapshot,
    StudyFigures,
)


@dataclass(slots=True)
class StudyPart:
    """One engine's share of a study's figures as of one instant."""

    sla_us: int
    # dashboard -> (latencies of the entries counted, ascending; backlog; entries over
    # SLA, or None to derive them from the latencies and the overdue backlog, as of T).
    # Ascending: the merge takes percentiles over the parts' runs, never sorting them again.
    dashboards: dict[str, tuple[list[int], BacklogFigures, int | None]]
    queries: QueryFigures


def merge_study(parts: list[StudyPart]) -> StudyFigures:
    names = sorted({name for part in parts for name in part.dashboards})
    dashboards: dict[str, DashboardFigures] = {}
    for name in names:
        shares = [part.dashboards[name] for part in parts if name in part.dashboards]
        runs = [latencies for latencies, _backlog, _over in shares]
        backlog = merge_backlogs(backlog for _latencies, backlog, _over in shares)
        counted = [over for _latencies, _backlog, over in shares]
        over_sla = None if None in counted else sum(counted)  # type: ignore[arg-type]
        latency = LatencyFigures.of_sorted_runs(runs, parts[0].sla_us, backlog.overdue, over_sla)
        dashboards[name] = DashboardFigures(latency, backlog)
    return StudyFigures(dashboards, merge_query_figures(part.queries for part in parts))


def snapshot_parts(
    engine: Engine, as_of_us: int, runs: dict[tuple[str, str], list[list[int]]] | None = None
) -> tuple[dict[str, StudyPart], int]:
    """This engine's part of ``Engine.snapshot(T)``: per study, and its orphan query events.

    ``runs``: each group's ascending latencies as of T per (study, dashboard), as
    ``scorecard_grains`` gives them, or None to read them from the groups here. The same
    entries either way: ``GroupLedger.latencies`` counts those published by T, and every
    cover of an entry is no earlier than its entry time (a snapshot's cutoff is not
    later than its publish, a record's publish covers the entries entered by it), so
    each of them was entered by T, as the scorecards ask. Joining sorted runs is a merge
    for the sort, not a sort of values in no order.
    """
    studies: dict[str, StudyPart] = {}
    orphans = 0
    for study_id, study in engine.studies.items():
        if study.first_seen_us is None or study.first_seen_us > as_of_us:
            continue
        dashboards: dict[str, tuple[list[int], BacklogFigures, int | None]] = {}
        for name, ledger in study.dashboards.items():
            latencies: list[int] = []
            if runs is None:
                for group in ledger.groups.values():
                    latencies += group.latencies(as_of_us)  # each group's list, not each value
            else:
                for run in runs[(study_id, name)]:
                    latencies += run  # copied: the runs are the scorecards' too
            latencies.sort()
            backlog = merge_backlogs(group.backlog(as_of_us) for group in ledger.groups.values())
            dashboards[name] = (latencies, backlog, None)
        by_group, study_orphans = study.queries.figures(as_of_us)
        orphans += study_orphans
        studies[study_id] = StudyPart(
            study.sla_us, dashboards, merge_query_figures(by_group.values())
        )
    return studies, orphans


def merge_snapshots(
    as_of_us: int, parts: Iterable[tuple[dict[str, StudyPart], int]]
) -> Snapshot:
    by_study: dict[str, list[StudyPart]] = {}
    orphans = 0
    for studies, part_orphans in parts:
        orphans += part_orphans
        for study_id, part in studies.items():
            by_study.setdefault(study_id, []).append(part)
    return Snapshot(
        as_of_us, {sid: merge_study(by_study[sid]) for sid in sorted(by_study)}, orphans
    )
