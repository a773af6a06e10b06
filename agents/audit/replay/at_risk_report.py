"""The report's ``at_risk`` section: what will breach next as of T, per study and dashboard.

From ``streams/at_risk.py`` (one engine, or the parts of ``--jobs`` workers merged):
pending entries by time left before their SLA deadline, the earliest upcoming deadline,
the dashboard's next expected publish (configured schedule or learned cadence), whether
the publish due after its last one was missed, and the certain breaches before the next
publish. The live metrics as of the same instant have the same figures
(docs/kpis.md, "What will breach next").
"""

from __future__ import annotations

from typing import Any

from schemas.timestamps import format_timestamp, seconds_ms
from streams.at_risk import DashboardAtRisk
from streams.config import EngineConfig
from streams.deadlines import time_left_bucket_names


def _ts(us: int | None) -> str | None:
    return None if us is None else format_timestamp(us)


def dashboard_dict(risk: DashboardAtRisk, names: tuple[str, ...]) -> dict[str, Any]:
    figures, seen = risk.time_to_breach, risk.outlook
    return {
        "pending": figures.pending,
        "pending_by_time_left": dict(zip(names, figures.by_time_left, strict=True)),
        "earliest_deadline": _ts(figures.earliest_deadline_us),
        "certain_breaches": figures.certain_breaches,
        "schedule": None if seen is None else ("learned" if seen.learned else "configured"),
        "next_publish": _ts(None if seen is None else seen.next_publish_us),
        "publish_due": _ts(None if seen is None else seen.due_us),
        "schedule_missed": None if seen is None else seen.missed,
        "last_publish": _ts(risk.last_publish_us),
    }


def at_risk_section(
    config: EngineConfig, merged: dict[str, dict[str, DashboardAtRisk]]
) -> dict[str, Any]:
    names = time_left_bucket_names(config.time_left_edges_us)
    return {
        "at_risk": {
            "time_left_edges_s": [seconds_ms(edge) for edge in config.time_left_edges_us],
            "schedule_grace_s": seconds_ms(config.schedule_grace_us),
            "bucket_names": list(names),
            "studies": {
                study_id: {name: dashboard_dict(risk, names) for name, risk in dashboards.items()}
                for study_id, dashboards in merged.items()
            },
        }
    }
