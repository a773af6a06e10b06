"""What one engine answers of the replay's figures, before the engines' parts are merged.

One engine is the N = 1 case: the replay merges a list of these whatever the number
of engines (``agents/audit/replay/command.py``), so one engine and N shards write the
same report through the same steps (``streams/parts.py``, ``streams/windows.py``,
``streams/scorecards.py``: each merge is exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.audit.replay.distributions import (
    Distributions,
    distributions_of,
    merge_distributions,
)
from streams import Engine
from streams.figures import Snapshot
from streams.parts import StudyPart, merge_snapshots, snapshot_parts
from streams.scorecards import (
    ScorecardGrains,
    Scorecards,
    merge_scorecard_grains,
    scorecard_grains,
)
from streams.windows import Window, WindowParts, merge_windows, window_parts


@dataclass(slots=True)
class EngineParts:
    """One engine's parts of the figures as of T."""

    snapshot: tuple[dict[str, StudyPart], int]
    windows: WindowParts
    scorecard_grains: ScorecardGrains
    distributions: Distributions
    earliest_us: int | None


def engine_parts(
    engine: Engine, as_of_us: int, window_us: int, since_us: int | None
) -> EngineParts:
    snapshot = snapshot_parts(engine, as_of_us)
    return EngineParts(
        snapshot=snapshot,
        windows=window_parts(engine, as_of_us, window_us, since_us=since_us),
        scorecard_grains=scorecard_grains(engine, as_of_us),
        distributions=distributions_of(snapshot[0]),
        earliest_us=engine.earliest_us,
    )


@dataclass(slots=True)
class MergedFigures:
    snapshot: Snapshot
    windows: list[Window]
    scorecards: Scorecards
    distributions: Distributions


def merge_parts(
    parts: Sequence[EngineParts], as_of_us: int, window_us: int, since_us: int
) -> MergedFigures:
    earliest = [p.earliest_us for p in parts if p.earliest_us is not None]
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
    )
