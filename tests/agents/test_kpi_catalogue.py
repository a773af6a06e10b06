"""docs/kpis.md names every figure: each metric, recording rule, report field and CSV column.

Metrics, rules and outputs are added in several places; the catalogue is where a
reader learns what each one means. A failure lists exactly what to add.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import yaml

from agents.audit.replay.report import backlog_dict, latency_dict, queries_dict
from agents.audit.replay.scorecard_report import CSV_COLUMNS, card_dict, spread_dict
from agents.audit.replay.stages_report import CSV_COLUMNS as STAGE_CSV_COLUMNS
from agents.audit.replay.tables import ENTRIES_HEADER, QUERIES_HEADER
from agents.audit.replay.visit_report import CSV_COLUMNS as VISIT_CSV_COLUMNS
from agents.audit.replay.visit_report import visit_dict
from agents.audit.replay.window_table import WINDOWS_COLUMNS
from agents.cli import main
from agents.metrics.definitions import ALL_METRICS
from streams.figures import BacklogFigures, LatencyFigures, QueryFigures
from streams.scorecards import Scorecard, Spread
from streams.visits import VisitFigures

CATALOGUE = Path("docs/kpis.md")
RULES = sorted(Path("deploy/prometheus/rules").glob("*.yml"))


def named(token: str, text: str) -> bool:
    """The token in backticks, whole or as the start of a dotted name."""
    return re.search("`" + re.escape(token) + r"[`.]", text) is not None


def metric_names() -> dict[str, str]:
    return {
        spec.name + ("_total" if spec.kind == "counter" else ""): f"{spec.kind}: {spec.help}"
        for spec in ALL_METRICS
    }


def recording_rules() -> dict[str, str]:
    return {
        rule["record"]: f"{path}: {' '.join(rule['expr'].split())[:80]}"
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def report_fields(tmp_path: Path) -> dict[str, str]:
    """Every field of report.json by section: the figure dicts, and the sections of a
    replay of the bundled sample (input, coverage, options, windows, invalid, sites)."""
    out = tmp_path / "out"
    assert main(["replay", "--input", "agents/data/sample-events.jsonl", "--as-of",
                 "2026-01-09T00:00:00Z", "--out", str(out), "--quiet", "--config",
                 "deploy/simulated-studies.toml"]) == 0  # fmt: skip
    report = orjson.loads((out / "report.json").read_bytes())
    sections = {
        "latency": latency_dict(LatencyFigures()),
        "backlog": backlog_dict(BacklogFigures()),
        "queries": queries_dict(QueryFigures()),
        "scorecard": card_dict(Scorecard()),
        "vendor_spread": spread_dict(Spread()),
        "input": report["input"],
        "coverage": report["coverage"],
        "options": report["options"],
        "windows": report["windows"][0],
        "invalid": report["invalid"][0],
        "sites_behind_breaches": next(s for s in report["sites_behind_breaches"].values() if s)[0],
        # The section's own keys, and those of each study's dashboard under it.
        "at_risk": {
            **report["at_risk"],
            **next(iter(next(iter(report["at_risk"]["studies"].values())).values())),
        },
        "uptime": report["uptime"],
        "freshness": next(iter(next(iter(report["uptime"]["studies"].values())).values())),
        "stages": report["stages"],
        "stage": stage_dicts(report["stages"])[0],
        "pipeline": next(iter(next(iter(report["stages"]["studies"].values())).values())),
        "visit_to_entry": report["visit_to_entry"],
        "visit_to_entry_study": next(iter(report["visit_to_entry"]["studies"].values())),
        "visit": visit_dict(VisitFigures()),
    }
    fields = {f"{section}.{key}": "report.json" for section, keys in sections.items() for key in keys}
    fields.update({key: "report.json (top level)" for key in report})
    return fields


def stage_dicts(section: dict) -> list[dict]:
    return [
        stage
        for dashboards in section["studies"].values()
        for pipeline in dashboards.values()
        for stage in pipeline["stages"]
    ]


def csv_columns() -> dict[str, str]:
    files = {
        "entries.csv": ENTRIES_HEADER.decode().strip().split(","),
        "queries.csv": QUERIES_HEADER.decode().strip().split(","),
        "scorecard.csv": list(CSV_COLUMNS),
        "windows.csv": list(WINDOWS_COLUMNS),
        "stages.csv": list(STAGE_CSV_COLUMNS),
        "visit_to_entry.csv": list(VISIT_CSV_COLUMNS),
    }
    return {f"{name}:{column}": name for name, columns in files.items() for column in columns}


def missing_from_catalogue(tmp_path: Path) -> list[str]:
    """One line per figure docs/kpis.md does not name: what to add, and where it comes from."""
    text = CATALOGUE.read_text()
    missing = []
    for kind, items in (
        ("metric (agents/metrics/definitions.py)", metric_names()),
        ("recording rule", recording_rules()),
        ("report field", report_fields(tmp_path)),
        ("CSV column", csv_columns()),
    ):
        missing += [f"  `{token}` — {kind}; {where}" for token, where in items.items()
                    if not named(token, text)]  # fmt: skip
    return missing


def test_the_catalogue_names_every_metric_rule_report_field_and_csv_column(tmp_path):
    missing = missing_from_catalogue(tmp_path)
    assert not missing, (
        "docs/kpis.md lacks these; add each, in backticks, to the table row of the figure "
        "it carries (its start and stop, unit, exact or estimated):\n" + "\n".join(missing)
    )


def test_a_metric_added_elsewhere_is_reported_with_what_to_add(tmp_path, monkeypatch):
    """What the lead sees after merging a branch that adds a metric: its exact name."""
    import tests.agents.test_kpi_catalogue as catalogue
    from agents.metrics.definitions import MetricSpec

    added = MetricSpec("edc_stuck_partitions", "gauge", "Partitions that made no progress.", ())
    monkeypatch.setattr(catalogue, "ALL_METRICS", (*ALL_METRICS, added))
    assert missing_from_catalogue(tmp_path) == [
        "  `edc_stuck_partitions` — metric (agents/metrics/definitions.py); "
        "gauge: Partitions that made no progress."
    ]


def test_the_catalogue_names_no_metric_that_no_longer_exists():
    text = CATALOGUE.read_text()
    known = set(metric_names()) | {n.removesuffix("_total") for n in metric_names()}
    mentioned = set(re.findall(r"`(edc_[a-z_]+)`", text))
    assert not mentioned - known, f"docs/kpis.md names metrics that do not exist: {mentioned - known}"
