"""The ``uptime`` section of report.json: publish and data freshness as of T, and the
data-integration uptime of the 30 days before T, per study and dashboard
(streams/freshness.py; docs/kpis.md, "Freshness and uptime")."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agents.audit.replay.cells import seconds_or_none
from schemas.timestamps import format_timestamp, seconds_ms
from streams import Engine
from streams.freshness import (
    MINUTE_US,
    UPTIME_WINDOW_US,
    Freshness,
    FreshnessHistory,
    freshness,
    merge_histories,
)

Thresholds = Callable[[str, str], tuple[int, int]]
# (study, dashboard) -> (history, first entry, first event of the study); and the engine's clock
FreshnessParts = tuple[
    dict[tuple[str, str], tuple[FreshnessHistory, int | None, int | None]], int | None
]


def freshness_parts(engine: Engine) -> FreshnessParts:
    """One engine's share (a shard of ``replay --jobs N``): merged by ``merge_parts``."""
    parts = {
        (study_id, dashboard): (history, first, engine.studies[study_id].first_seen_us)
        for study_id, dashboard, history, first in engine.freshness_histories()
    }
    return parts, engine.deadline_clock()


def merge_parts(
    answers: Iterable[FreshnessParts], as_of_us: int, thresholds_us: Thresholds
) -> tuple[dict[tuple[str, str], Freshness], int | None]:
    """What one engine fed every shard's events answers (``Engine.freshness``)."""
    by_key: dict[tuple[str, str], list[tuple[FreshnessHistory, int | None, int | None]]] = {}
    clocks = []
    for parts, clock in answers:
        if clock is not None:
            clocks.append(clock)
        for key, part in parts.items():
            by_key.setdefault(key, []).append(part)
    clock = max(clocks, default=None)
    figures: dict[tuple[str, str], Freshness] = {}
    for key in sorted(by_key):
        shares = by_key[key]
        seen = [s for _h, _f, s in shares if s is not None]
        if not seen or min(seen) > as_of_us:
            continue
        firsts = [f for _h, f, _s in shares if f is not None]
        publish_after, data_after = thresholds_us(*key)
        figures[key] = freshness(
            merge_histories(h for h, _f, _s in shares), min(firsts, default=None), as_of_us,
            clock, publish_after, data_after,
        )  # fmt: skip
    return figures, clock


def _time(us: int | None) -> str | None:
    return None if us is None else format_timestamp(us)



def freshness_dict(f: Freshness, thresholds: tuple[int, int]) -> dict[str, Any]:
    return {
        "last_publish": _time(f.last_published_us),
        "newest_data_shown": _time(f.newest_shown_us),
        "publish_freshness_s": seconds_or_none(f.publish_freshness_us),
        "data_freshness_s": seconds_or_none(f.data_freshness_us),
        "publish_stale_after_s": seconds_ms(thresholds[0]),
        "data_stale_after_s": seconds_ms(thresholds[1]),
        "minutes_good": f.good,
        "minutes_bad": f.bad,
        "minutes_unknown": f.unknown,
        "uptime": round(f.good / f.judged, 4) if f.judged else None,
    }


def uptime_section(
    figures: dict[tuple[str, str], Freshness],
    clock_us: int | None,
    as_of_us: int,
    thresholds_us: Thresholds,
) -> dict[str, Any]:
    """The section: per study and dashboard, and whether every minute had input."""
    studies: dict[str, dict[str, Any]] = {}
    for (study_id, dashboard), f in figures.items():
        studies.setdefault(study_id, {})[dashboard] = freshness_dict(
            f, thresholds_us(study_id, dashboard)
        )
    unknown = sum(f.unknown for f in figures.values())
    reached = None if clock_us is None else min(clock_us, as_of_us)
    return {
        "window_s": seconds_ms(UPTIME_WINDOW_US),
        "minute_s": seconds_ms(MINUTE_US),
        "input_until": _time(reached),
        "coverage": "complete" if figures and not unknown else "incomplete",
        "minutes_unknown": unknown,
        "studies": studies,
    }


def engine_uptime_section(
    engine: Engine, as_of_us: int, thresholds_us: Thresholds
) -> dict[str, Any]:
    """The section of one engine (the replay without ``--jobs``)."""
    figures, clock = merge_parts([freshness_parts(engine)], as_of_us, thresholds_us)
    return uptime_section(figures, clock, as_of_us, thresholds_us)
