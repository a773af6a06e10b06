"""What the engine needs to know about studies: their dashboards, SLA and retention.

Plain frozen dataclasses: the settings object of ``agents/`` (and the replay's
options) builds one of these; ``streams/`` never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.timestamps import US_PER_DAY, US_PER_HOUR, US_PER_SECOND

DEFAULT_SLA_US = 24 * US_PER_HOUR
DEFAULT_DASHBOARDS = ("default",)
BREAKDOWN_DIMENSIONS = ("site", "country", "vendor")


@dataclass(frozen=True, slots=True)
class StudyConfig:
    """A study's latency target and the dashboards its entries must reach."""

    sla_us: int = DEFAULT_SLA_US
    dashboards: tuple[str, ...] = DEFAULT_DASHBOARDS

    def __post_init__(self) -> None:
        if self.sla_us <= 0:
            raise ValueError("sla must be positive")
        if not self.dashboards:
            raise ValueError("a study needs at least one dashboard")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Engine settings.

    ``retention_us`` bounds the state in live use: whatever is older than the
    newest event time seen minus the retention can no longer change an answer
    and is pruned (see docs/design.md, "Retention"). ``None`` keeps everything,
    which is what an audit replay uses.

    ``breakdown`` names the optional dimensions (site, country, vendor) that
    split the figures; empty keeps one group per study and dashboard.

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

    def __post_init__(self) -> None:
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

    def study(self, study_id: str) -> StudyConfig:
        return self.studies.get(study_id, self.default_study)


def bounds_us(bounds_s: tuple[float, ...]) -> tuple[int, ...]:
    """Histogram bucket bounds in seconds → µs, as the engine's tallies and its state hold them."""
    return tuple(round(b * US_PER_SECOND) for b in bounds_s)
