"""windows.csv: one row per window, study and dashboard, with the window's coverage mark."""

from __future__ import annotations

import csv
import io
from typing import Any

from agents.audit.replay.cells import safe_cell

WINDOWS_COLUMNS = (
    "window_start", "window_end", "window_complete", "data", "study", "dashboard",
    "published", "p50_s", "p95_s", "within_sla", "over_sla", "pending", "overdue",
)  # fmt: skip


def windows_csv(report: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WINDOWS_COLUMNS)
    unknown = report["coverage"]["status"] == "unknown"
    for window in report["windows"]:
        data = (
            "unknown" if unknown
            else "incomplete" if window.get("coverage_incomplete")
            else "complete"
        )  # fmt: skip
        for study, figures in window["studies"].items():
            for dashboard, d in figures["dashboards"].items():
                latency, backlog = d["latency"], d["backlog"]
                writer.writerow([
                    window["start"], window["end"], "true" if window["complete"] else "false",
                    data, safe_cell(study), safe_cell(dashboard), latency["count"],
                    _number(latency["p50_s"]), _number(latency["p95_s"]), latency["within_sla"],
                    latency["over_sla"], backlog["pending"], backlog["overdue"],
                ])  # fmt: skip
    return out.getvalue().encode()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
