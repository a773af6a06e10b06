"""The report.html latency distributions: entries per latency bucket, per study and dashboard."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from agents.audit.replay.html import DISTRIBUTION_BOUNDS_S
from schemas.timestamps import US_PER_SECOND
from streams import Engine
from streams.parts import StudyPart, snapshot_parts

Distributions = dict[tuple[str, str], list[int]]


def latency_distributions(engine: Engine, as_of_us: int) -> Distributions:
    return distributions_of(snapshot_parts(engine, as_of_us)[0])


def distributions_of(studies: dict[str, StudyPart]) -> Distributions:
    """Bucket counts of the latencies in one engine's snapshot parts.

    The latencies are ascending (``StudyPart``), so a bucket's count is a difference of
    two bisections: the values up to its bound (``bucket_of``: a value is counted in the
    first bucket whose bound it does not exceed) less those up to the previous bound,
    instead of a bisection per value."""
    bounds = [b * US_PER_SECOND for b in DISTRIBUTION_BOUNDS_S]
    out: Distributions = {}
    for study_id, part in studies.items():
        for dashboard, (latencies, _backlog, _over_sla) in part.dashboards.items():
            counts = []
            below = 0  # values up to the previous bound
            for bound in bounds:
                up_to = bisect_right(latencies, bound)
                counts.append(up_to - below)
                below = up_to
            counts.append(len(latencies) - below)  # past the last bound
            out[(study_id, dashboard)] = counts
    return out


def merge_distributions(parts: Iterable[Distributions]) -> Distributions:
    """Counts added per study and dashboard (each shard counts its own entries)."""
    out: Distributions = {}
    for part in parts:
        for key, counts in part.items():
            mine = out.get(key)
            if mine is None:
                out[key] = list(counts)
            else:
                out[key] = [a + b for a, b in zip(mine, counts, strict=True)]
    return out
