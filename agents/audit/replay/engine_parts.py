"""What one engine answers of the replay's figures, before the engines' parts are merged.

One engine is the N = 1 case: the replay merges a list of these whatever the number
of engines (``agents/audit/replay/command.py``), so one engine and N shards write the
same report through the same steps (``streams/parts.py``, ``streams/windows.py``,
``streams/scorecards.py``: each merge is exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.audit.replay.at_risk_report import at_risk_section
from agents.audit.replay.distributions import (
    Distributions,
    distributions_of,
    merge_distributions,
)
from agents.audit.replay.uptime_report import FreshnessParts, freshness_parts, uptime_section
from agents.audit.replay.uptime_report import merge_parts as merge_freshness_parts
from streams import Engine, EngineConfig
from streams.at_risk import AtRiskPart, at_risk_from_parts, at_risk_parts
from streams.figures import Snapshot
from streams.parts import StudyPart, merge_snapshots, snapshot_parts
from streams.queries import Changes
from streams.scorecards import (
    GroupRuns,
    ScorecardGrains,
    Scorecards,
    merge_scorecard_grains,
    scorecard_grains,
)
from streams.stages import StageObservations
from streams.visits import VisitParts, VisitReport, merge_visit_parts, visit_parts, visit_report
from streams.windows import Window, WindowParts, merge_windows, window_parts

# (study, dashboard) → (publish threshold, data threshold) in µs: the uptime's minutes.
Thresholds = Callable[[str, str], tuple[int, int]]


@dataclass(slots=True)
class EngineParts:
    """One engine's parts of the figures as of T."""

    snapshot: tuple[dict[str, StudyPart], int]
    windows: WindowParts
    scorecard_grains: ScorecardGrains
    distributions: Distributions
    earliest_us: int | None
    # Issues 22 and 23: what will breach next, freshness and uptime, pipeline stages (with
    # the stage events of no configured stage; a shard counts only those it owns, see
    # parallel.py) and visit to entry.
    at_risk: dict[tuple[str, str], AtRiskPart]
    freshness: FreshnessParts
    stage_observations: list[tuple[str, str, StageObservations]]
    unknown_stage: int
    visits: VisitParts


def engine_parts(
    engine: Engine, as_of_us: int, window_us: int, since_us: int | None
) -> EngineParts:
    # Each group's latencies computed and sorted once, for the scorecards and the snapshot;
    # each query folded once for the scorecards and the windows.
    runs: GroupRuns = {}
    changes: dict[str, list[Changes]] = {}
    grains = scorecard_grains(engine, as_of_us, runs, changes)
    snapshot = snapshot_parts(engine, as_of_us, runs)
    windows = window_parts(engine, as_of_us, window_us, since_us=since_us, changes=changes)
    del runs, changes  # not kept while the rest is made
    return EngineParts(
        snapshot=snapshot,
        windows=windows,
        scorecard_grains=grains,
        distributions=distributions_of(snapshot[0]),
        earliest_us=engine.earliest_us,
        at_risk=at_risk_parts(engine, as_of_us),
        freshness=freshness_parts(engine),
        stage_observations=list(engine.stage_observations(as_of_us)),
        unknown_stage=engine.counters.unknown_stage,
        visits=visit_parts(engine, as_of_us),
    )


@dataclass(slots=True)
class MergedFigures:
    snapshot: Snapshot
    windows: list[Window]
    scorecards: Scorecards
    distributions: Distributions
    at_risk: dict[str, Any]  # the report's section
    uptime: dict[str, Any]  # the report's section
    stage_observations: list[tuple[str, str, StageObservations]]
    unknown_stage: int
    visits: VisitReport


def merge_parts(
    parts: Sequence[EngineParts],
    as_of_us: int,
    window_us: int,
    since_us: int,
    config: EngineConfig,
    thresholds_us: Thresholds,
) -> MergedFigures:
    earliest = [p.earliest_us for p in parts if p.earliest_us is not None]
    freshness, clock = merge_freshness_parts([p.freshness for p in parts], as_of_us, thresholds_us)
    return MergedFigures(
        snapshot=merge_snapshots(as_of_us, [p.snapshot for p in parts]),
        windows=merge_windows(
            [p.windows for p in parts],
            min(earliest, default=None),
            as_of_us,
            window_us,
            since_us=since_us,
        ),
        scorecards=merge_scorecard_grains([p.scorecard_grains for p in parts]),
        distributions=merge_distributions(p.distributions for p in parts),
        at_risk=at_risk_section(
            config, at_risk_from_parts(config, [p.at_risk for p in parts], as_of_us)
        ),
        uptime=uptime_section(freshness, clock, as_of_us, thresholds_us),
        stage_observations=[o for p in parts for o in p.stage_observations],
        unknown_stage=sum(p.unknown_stage for p in parts),
        visits=visit_report(
            merge_visit_parts(p.visits for p in parts),
            config.visit_medium_us,
            config.visit_high_us,
        ),
    )
