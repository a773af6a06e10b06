"""Engine figures as plain dicts shaped like the brute force's, for comparison."""

from __future__ import annotations

from typing import Any

from streams import Snapshot, Window
from streams.figures import StudyFigures
from streams.scorecards import Scorecard, Scorecards, ScorecardSet


def study_dict(figures: StudyFigures) -> dict[str, Any]:
    q = figures.queries
    return {
        "dashboards": {
            name: {
                "latency": {
                    "count": d.latency.count,
                    "p50": d.latency.p50_us,
                    "p95": d.latency.p95_us,
                    "p99": d.latency.p99_us,
                    "max": d.latency.max_us,
                    "within_sla": d.latency.within_sla,
                    "over_sla": d.latency.over_sla,
                },
                "backlog": {
                    "pending": d.backlog.pending,
                    "oldest_age": d.backlog.oldest_age_us,
                    "overdue": d.backlog.overdue,
                },
            }
            for name, d in figures.dashboards.items()
        },
        "queries": {
            "awaiting_site": q.awaiting_site,
            "awaiting_dm": q.awaiting_dm,
            "oldest": q.oldest_open_age_us,
            "aging": list(q.aging),
        },
    }


def snapshot_dict(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "studies": {sid: study_dict(f) for sid, f in snapshot.studies.items()},
        "orphans": snapshot.orphan_query_events,
    }


def windows_list(windows: list[Window]) -> list[dict[str, Any]]:
    return [
        {
            "start": w.start_us,
            "end": w.end_us,
            "complete": w.complete,
            "studies": {sid: study_dict(f) for sid, f in w.studies.items()},
        }
        for w in windows
    ]


def scorecards_dict(cards: Scorecards) -> dict[str, Any]:
    """Engine scorecards shaped like brute_force.scorecards."""

    def card(c: Scorecard) -> dict[str, Any]:
        return {
            "entries": c.entries, "published": c.published, "p50": c.p50_us, "p95": c.p95_us,
            "within_sla": c.within_sla, "pending": c.pending, "overdue": c.overdue,
            "over_sla": c.over_sla, "open_queries": c.open_queries, "queries_over_30d": c.queries_over_30d,
            "answers": c.answers, "median_answer": c.median_answer_us,
            "closes": c.closes, "median_close": c.median_close_us,
        }  # fmt: skip

    def scorecard_set(s: ScorecardSet) -> dict[str, Any]:
        out: dict[str, Any] = {
            dim: {v: card(c) for v, c in values.items()} for dim, values in s.by_dimension.items()
        }
        spread = s.vendor_spread
        out["spread"] = {"vendors": spread.vendors, "min": spread.min_share,
                         "max": spread.max_share, "stdev": spread.stdev_share}  # fmt: skip
        return out

    return {
        "all": scorecard_set(cards.all_studies),
        "studies": {sid: scorecard_set(s) for sid, s in cards.studies.items()},
        "sites_behind_breaches": {
            sid: [
                {
                    "site": b.site,
                    "over_sla": b.over_sla,
                    "entries": b.entries,
                    "share": b.share_of_study_breaches,
                }
                for b in sites
            ]
            for sid, sites in cards.sites_behind_breaches.items()
        },
    }
