"""The SQL peer: DuckDB computing per-study latency and backlog from the same JSONL file.

An analyst could load the export into DuckDB instead of replaying it; the bench
runs that SQL (``bench/peer.sql``) in the same run as the replay, checks that both
agree on every figure the SQL computes, and compares their times. duckdb is a
bench-only dependency (the ``bench`` extra that ``make bench`` installs).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agents.settings import Settings

SQL = Path(__file__).with_name("peer.sql")
FIGURES = ("count", "p50_us", "p95_us", "p99_us", "max_us", "within_sla",
           "pending", "oldest_age_us", "overdue")  # fmt: skip

PeerRows = dict[tuple[str, str], dict[str, int | None]]


class Disagreement(Exception):
    """The peer and the replay's report.json differ on a figure."""


def run_peer(path: Path, as_of_us: int, settings: Settings) -> tuple[PeerRows, float]:
    """(study, dashboard) -> figures in microseconds, and the seconds it took (connect to fetch).

    Every study of the input must be configured (``settings.studies``): the peer knows
    no default study, as an analyst's configuration table would list each study.
    """
    import duckdb

    started = time.perf_counter()
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    connection.execute("CREATE TABLE study_dashboards (study_id VARCHAR, dashboard VARCHAR, "
                       "sla_us BIGINT)")  # fmt: skip
    connection.executemany(
        "INSERT INTO study_dashboards VALUES (?, ?, ?)",
        [
            (study_id, dashboard, round(study.sla * 1_000_000))
            for study_id, study in settings.studies.items()
            for dashboard in study.dashboards
        ],
    )
    rows = connection.execute(SQL.read_text(), {"path": str(path), "as_of_us": as_of_us})
    result = {
        (study, dashboard): dict(zip(FIGURES, figures, strict=True))
        for study, dashboard, *figures in rows.fetchall()
    }
    connection.close()
    return result, time.perf_counter() - started


def _seconds_ms(us: int | None) -> float | None:
    """The report's rounding: seconds to the millisecond, half away from zero (us ≥ 0 here)."""
    return None if us is None else (us + 500) // 1000 / 1000


def check_agreement(peer: PeerRows, report: dict[str, Any]) -> int:
    """Raise Disagreement naming each differing figure; returns how many figures agreed."""
    problems: list[str] = []
    agreed = 0
    seen = set()
    for study_id, study in report["studies"].items():
        for dashboard, figures in study["dashboards"].items():
            seen.add((study_id, dashboard))
            mine = peer.get((study_id, dashboard), dict.fromkeys(FIGURES, 0))
            theirs = {**figures["latency"], **figures["backlog"]}
            for name in FIGURES:
                want = mine[name]
                if name.endswith("_us"):
                    want, name = _seconds_ms(want), name[:-3] + "_s"
                if theirs[name] != want:
                    problems.append(f"{study_id}/{dashboard} {name}: peer {want}, replay "
                                    f"{theirs[name]}")  # fmt: skip
                else:
                    agreed += 1
    for key in sorted(set(peer) - seen):
        problems.append(f"{key[0]}/{key[1]}: in the peer's answer, not in the report")
    if problems:
        raise Disagreement("; ".join(problems))
    return agreed
