"""Engine figures as plain dicts shaped like the brute force's, for comparison."""

from __future__ import annotations

from typing import Any

from streams import Snapshot, Window
from streams.figures import StudyFigures


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
