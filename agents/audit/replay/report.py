"""The report, format ``edc-latency.report/1``: plain data, sorted keys, rounded at the edge."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import orjson

from agents.audit.replay.cells import seconds_or_none
from agents.audit.replay.lines import InvalidLines
from schemas.timestamps import US_PER_SECOND, format_timestamp, seconds_ms
from streams import AGING_BUCKETS, Engine, Snapshot, Window
from streams.figures import BacklogFigures, LatencyFigures, QueryFigures, StudyFigures

FORMAT = "edc-latency.report/1"



def _share(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 4)


def latency_dict(f: LatencyFigures) -> dict[str, Any]:
    return {
        "count": f.count,
        "p50_s": seconds_or_none(f.p50_us),
        "p95_s": seconds_or_none(f.p95_us),
        "p99_s": seconds_or_none(f.p99_us),
        "max_s": seconds_or_none(f.max_us),
        "within_sla": f.within_sla,
        # Since 0.2.0 (docs/kpis.md): published late or waiting past the SLA, and the share
        # within SLA of the entries decided (within + over), so overdue entries lower it.
        "over_sla": f.over_sla,
        "share_within_sla": _share(f.share_within_sla),
        "sla_s": seconds_or_none(f.sla_us),
    }


def backlog_dict(f: BacklogFigures) -> dict[str, Any]:
    return {"pending": f.pending, "oldest_age_s": seconds_or_none(f.oldest_age_us), "overdue": f.overdue}


def queries_dict(f: QueryFigures) -> dict[str, Any]:
    return {
        "open": f.open,
        "awaiting_site": f.awaiting_site,
        "awaiting_dm": f.awaiting_dm,
        "oldest_open_age_s": seconds_or_none(f.oldest_open_age_us),
        "aging": dict(zip(AGING_BUCKETS, f.aging, strict=True)),
    }


def study_dict(f: StudyFigures) -> dict[str, Any]:
    return {
        "dashboards": {
            name: {"latency": latency_dict(d.latency), "backlog": backlog_dict(d.backlog)}
            for name, d in f.dashboards.items()
        },
        "queries": queries_dict(f.queries),
    }


def build_report(
    engine: Engine,
    snapshot: Snapshot,
    windows: list[Window],
    options: dict[str, Any],
    input_facts: dict[str, Any],
    invalid: InvalidLines,
) -> dict[str, Any]:
    report = {
        "format": FORMAT,
        "as_of": format_timestamp(snapshot.as_of_us),
        "options": options,
        "input": {
            **input_facts,
            "duplicates": engine.counters.duplicates,
            "unknown_dashboard": engine.counters.unknown_dashboard,
            "orphan_query_events": snapshot.orphan_query_events,
        },
        "studies": {sid: study_dict(f) for sid, f in snapshot.studies.items()},
        "windows": [
            {
                "start": format_timestamp(w.start_us),
                "end": format_timestamp(w.end_us),
                "complete": w.complete,
                "studies": {sid: study_dict(f) for sid, f in w.studies.items()},
            }
            for w in windows
        ],
        "invalid": [{"line": line, "reason": reason} for line, reason in invalid.listed],
    }
    if invalid.not_listed:
        # Only past replay_max_invalid_listed: the report stays bounded however much of the
        # input is junk, and a report with every line listed is as it always was.
        report["invalid_not_listed"] = {
            "count": invalid.count - len(invalid.listed),
            "by_reason": dict(sorted(invalid.not_listed.items())),
        }
    return report


def dumps(report: dict[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def options_dict(window_us: int, engine: Engine) -> dict[str, Any]:
    config = engine.config
    return {
        "window_s": window_us / US_PER_SECOND,
        "sla_s": {
            "default": seconds_ms(config.default_study.sla_us),
            **{sid: seconds_ms(study.sla_us) for sid, study in sorted(config.studies.items())},
        },
        "dashboards": {
            "default": list(config.default_study.dashboards),
            **{sid: list(study.dashboards) for sid, study in sorted(config.studies.items())},
        },
    }
