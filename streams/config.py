"""What the engine needs to know about studies: their dashboards, SLA and retention.

Plain frozen dataclasses: the settings object of ``agents/`` (and the replay's
options) builds one of these; ``streams/`` never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from schemas.timestamps import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND
from streams.schedules import IntervalSchedule, WeeklySchedule

DEFAULT_SLA_US = 24 * US_PER_HOUR
DEFAULT_DASHBOARDS = ("default",)
BREAKDOWN_DIMENSIONS = ("site", "country", "vendor")


# Owners a stage may have besides a named FSP (any other owner name is an FSP's).
SITE_OWNER = "site"
SPONSOR_OWNER = "sponsor"


@dataclass(frozen=True, slots=True)
class StageConfig:
    """One stage of a dashboard's pipeline: its name, who owns it, and optionally the
    p95 of its durations it is allowed (``budget_us``; only the alert reads it)."""

    name: str
    owner: str
    budget_us: int | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.owner:
            raise ValueError("a stage needs a name and an owner")
        if self.budget_us is not None and self.budget_us <= 0:
            raise ValueError("a stage's budget must be positive")


@dataclass(frozen=True, slots=True)
class StudyConfig:
    """A study's latency target and the dashboards its entries must reach.

    ``stages``: per dashboard, its pipeline's stages in order; the last is completed by
    the dashboard's publish (docs/design.md, "Pipeline stages"). Dashboards not named
    have no stages."""

    sla_us: int = DEFAULT_SLA_US
    dashboards: tuple[str, ...] = DEFAULT_DASHBOARDS
    # Per dashboard, its publish schedule (streams/schedules.py); a dashboard not named
    # here has its cadence learned from its own publishes.
    schedules: dict[str, IntervalSchedule | WeeklySchedule] = field(default_factory=dict)
    stages: dict[str, tuple[StageConfig, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sla_us <= 0:
            raise ValueError("sla must be positive")
        if not self.dashboards:
            raise ValueError("a study needs at least one dashboard")
        if set(self.schedules) - set(self.dashboards):
            raise ValueError("schedules name dashboards the study lacks")
        for dashboard, stages in self.stages.items():
            if dashboard not in self.dashboards:
                raise ValueError(f"stages name a dashboard the study lacks: {dashboard!r}")
            names = [stage.name for stage in stages]
            if not names or len(set(names)) != len(names):
                raise ValueError(f"the stages of {dashboard!r} must be named, each once")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Engine settings.

    ``retention_us`` bounds the state in live use: whatever is older than the
    newest event time seen minus the retention can no longer change an answer
    and is pruned (see docs/design.md, "Retention"). ``None`` keeps everything,
    which is what an audit replay uses.

    ``breakdown`` names the optional dimensions (site, country, vendor) that
    split the figures; empty keeps one group per study and dashboard.

    ``visit_medium_us`` and ``visit_high_us``: an entry whose visit to entry is above
    them is counted over medium, over high (``streams/visits.py``).

    ``max_event_ids`` caps the ids the duplicate check remembers (``streams/dedupe.py``);
    ``None``: only the retention bounds them. A cap needs a retention (ids are evicted
    by event hour, and only a retention files them by hour).
    """

    default_study: StudyConfig = field(default_factory=StudyConfig)
    studies: dict[str, StudyConfig] = field(default_factory=dict)
    retention_us: int | None = 7 * US_PER_DAY
    # How far the low watermark of the inputs may hold the horizon behind the newest
    # event time seen (streams/watermarks.py): the bound on state a lagging input keeps.
    max_hold_us: int = 90 * US_PER_DAY
    breakdown: tuple[str, ...] = ()
    latency_bounds_s: tuple[float, ...] = ()
    query_bounds_s: tuple[float, ...] = ()
    max_event_ids: int | None = None
    # Time to breach (streams/deadlines.py): the edges of the time-left buckets, ascending.
    time_left_edges_us: tuple[int, ...] = (US_PER_HOUR, 4 * US_PER_HOUR, US_PER_DAY)
    # How late a scheduled publish may come before it counts as missed (streams/schedules.py).
    schedule_grace_us: int = 30 * US_PER_MINUTE
    # Publishes closer together than this are one publish to the learned cadence.
    cadence_min_gap_us: int = 5 * US_PER_MINUTE
    # Visit to entry (streams/visits.py): its histogram's bounds, and the thresholds an
    # entry is counted over (strictly above).
    visit_bounds_s: tuple[float, ...] = ()
    visit_medium_us: int = 5 * US_PER_DAY
    visit_high_us: int = 7 * US_PER_DAY

    def __post_init__(self) -> None:
        if not 0 <= self.visit_medium_us <= self.visit_high_us:
            raise ValueError("visit-to-entry thresholds: 0 <= medium <= high")
        if self.max_event_ids is not None and (self.max_event_ids < 1 or self.retention_us is None):
            raise ValueError("max_event_ids must be positive, and needs a retention")
        unknown = [d for d in self.breakdown if d not in BREAKDOWN_DIMENSIONS]
        if unknown:
            raise ValueError(
                f"unknown breakdown dimension(s) {unknown}; use {BREAKDOWN_DIMENSIONS}"
            )
        if self.retention_us is not None and self.retention_us <= 0:
            raise ValueError("retention must be positive (or None to keep everything)")
        if self.max_hold_us < 0:
            raise ValueError("max_hold must not be negative")
        edges = self.time_left_edges_us
        if not edges or edges[0] <= 0 or any(b <= a for a, b in pairwise(edges)):
            raise ValueError("time-left edges must be positive and strictly ascending")
        if self.schedule_grace_us < 0 or self.cadence_min_gap_us < 0:
            raise ValueError("schedule grace and cadence gap must not be negative")

    def study(self, study_id: str) -> StudyConfig:
        return self.studies.get(study_id, self.default_study)


def bounds_us(bounds_s: tuple[float, ...]) -> tuple[int, ...]:
    """Histogram bucket bounds in seconds → µs, as the engine's tallies and its state hold them."""
    return tuple(round(b * US_PER_SECOND) for b in bounds_s)
