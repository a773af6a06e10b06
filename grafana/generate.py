"""Generate the Grafana dashboards from code: ``python -m grafana.generate`` (or ``make grafana``).

Five dashboards: data latency (data managers), query aging, FSP scorecard
(sponsor oversight of vendors and countries), where latency accrues (pipeline stages and
their owners), pipeline health (operators). Every panel's PromQL is listed by ``panel_queries()`` so the tests
can evaluate each one against a real Prometheus; a test also fails when the
committed JSON differs from what this file generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "edc-latency-prometheus"}
KPI = 'study=~"$study",dashboard=~"$dashboard",site=~"$site",country=~"$country",vendor=~"$vendor"'
STUDY = 'study=~"$study"'
VISITS = 'study=~"$study",site=~"$site",country=~"$country",vendor=~"$vendor"'


def _variable(name: str, query: str, label: str) -> dict[str, Any]:
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": {"query": query, "refId": name}, "definition": query,
        "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
        "current": {"text": "All", "value": "$__all"},
    }  # fmt: skip


def _panel(title: str, exprs: list[tuple[str, str]], unit: str, kind: str = "timeseries",
           description: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }  # fmt: skip


def _row(title: str) -> dict[str, Any]:
    """A full-width row heading the panels after it (no query of its own)."""
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "targets": []}


def _dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]
) -> dict[str, Any]:
    slot, top = 0, 0  # two panels a line; a row starts a new line below the last panel
    for i, panel in enumerate(panels):
        panel["id"] = i + 1
        if panel["type"] == "row":
            top += 8 * ((slot + 1) // 2)
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": top}
            slot, top = 0, top + 1
            continue
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (slot % 2), "y": top + 8 * (slot // 2)}
        slot += 1
    return {
        "uid": uid, "title": title, "tags": ["edc-latency"], "timezone": "utc",
        "schemaVersion": 39, "version": 1, "refresh": "30s", "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": variables}, "panels": panels,
    }  # fmt: skip


def dashboards() -> dict[str, dict[str, Any]]:
    study_var = _variable("study", "label_values(edc_sla_seconds, study)", "Study")
    kpi_vars = [
        study_var,
        _variable(
            "dashboard", 'label_values(edc_sla_seconds{study=~"$study"}, dashboard)', "Dashboard"
        ),
        _variable("site", 'label_values(edc_backlog_entries{study=~"$study"}, site)', "Site"),
        _variable(
            "country", 'label_values(edc_backlog_entries{study=~"$study"}, country)', "Country"
        ),
        _variable("vendor", 'label_values(edc_backlog_entries{study=~"$study"}, vendor)', "Vendor"),
    ]
    latency = _dashboard("edc-latency-data", "EDC data latency", [
        _panel("p50 / p95 data latency (1 h)", [
            (f'study_dashboard:edc_data_latency_seconds:p50_1h{{{STUDY},dashboard=~"$dashboard"}}', "p50 {{study}} {{dashboard}}"),
            (f'study_dashboard:edc_data_latency_seconds:p95_1h{{{STUDY},dashboard=~"$dashboard"}}', "p95 {{study}} {{dashboard}}"),
        ], "s", description="Time from entry in the EDC to first visibility on the dashboard."),
        _panel("p95 data latency (1 d) against SLA", [
            (f'study_dashboard:edc_data_latency_seconds:p95_1d{{{STUDY},dashboard=~"$dashboard"}}', "p95 {{study}} {{dashboard}}"),
            (f'max by (study, dashboard) (edc_sla_seconds{{{STUDY},dashboard=~"$dashboard"}})', "SLA {{study}} {{dashboard}}"),
        ], "s"),
        _panel("Within SLA (1 d)", [
            (f'study_dashboard:edc_within_sla:ratio_rate1d{{{STUDY},dashboard=~"$dashboard"}}', "{{study}} {{dashboard}}"),
        ], "percentunit", description="Share of the entries decided in the day: published within SLA, or over it (published late or still waiting past their deadline). Objective: 95%."),
        _panel("Backlog: entries waiting for the dashboard", [
            (f"sum by (study, dashboard) (edc_backlog_entries{{{KPI}}})", "{{study}} {{dashboard}}"),
            (f"sum by (study, dashboard) (edc_backlog_overdue_entries{{{KPI}}})", "overdue {{study}} {{dashboard}}"),
        ], "short"),
        _panel("Oldest waiting entry", [
            (f"max by (study, dashboard) (edc_backlog_oldest_age_seconds{{{KPI}}})", "{{study}} {{dashboard}}"),
        ], "s"),
        _panel("Backlog by site, country and vendor", [
            (f"sum by (site, country, vendor) (edc_backlog_entries{{{KPI}}})", "{{site}} {{country}} {{vendor}}"),
        ], "short", kind="table", description="Empty labels unless the breakdown is switched on."),
        _panel("Entries over SLA per hour", [
            (f"sum by (study, dashboard) (increase(edc_entries_over_sla_total{{{KPI}}}[1h]))", "{{study}} {{dashboard}}"),
        ], "short", description="Counted when an entry's deadline passes unpublished, whether published later or not."),
        _panel("Time since last publish", [
            (f'min by (study, dashboard) (edc_publish_silence_seconds{{{STUDY},dashboard=~"$dashboard"}})', "{{study}} {{dashboard}}"),
        ], "s"),
        _row("What will breach next"),
        _stacked(_panel("Waiting entries by time left before their SLA deadline", [
            (f"sum by (time_left) (edc_pending_by_time_left_entries{{{KPI}}})", "{{time_left}}"),
        ], "short", description="Event time: breached, under 1 h, 4 h, 24 h left (time_left_edges), later. docs/kpis.md, 'What will breach next'.")),
        _panel("Certain breaches before the next publish", [
            (f"sum by (study, dashboard) (edc_certain_breaches_entries{{{KPI}}})", "{{study}} {{dashboard}}"),
        ], "short", description="Deadline not passed yet, but before the next expected publish: only a publish before their deadline (off-cycle, or a late scheduled run) saves them (EdcPublishNow)."),
        _panel("Next scheduled publish", [
            (f'min by (study, dashboard, source) (edc_publish_next_expected_timestamp_seconds{{{STUDY},dashboard=~"$dashboard"}}) * 1000', "{{study}} {{dashboard}} ({{source}})"),
            (f'max by (study, dashboard) (edc_publish_schedule_missed{{{STUDY},dashboard=~"$dashboard"}})', "missed {{study}} {{dashboard}}"),
        ], "dateTimeAsIso", kind="table", description="Configured schedule or learned cadence; missed = 1 when the due publish did not come within its grace."),
        _panel("Visit to entry by site", [
            (f'histogram_quantile(0.95, sum by (study, site, le) (rate(edc_visit_to_entry_seconds_bucket{{{VISITS}}}[7d])))', "p95 {{study}} {{site}}"),
            ('max by (level) (edc_visit_to_entry_threshold_seconds)', "{{level}} threshold"),
        ], "s", description="The site's part: from 00:00 UTC of the visit date to the entry in the EDC, p95 over 7 d per site (estimated within its histogram bucket), against the medium and high thresholds. Empty site labels unless the site breakdown is on."),
    ], kpi_vars)  # fmt: skip
    queries = _dashboard("edc-latency-queries", "EDC query aging", [
        _panel("Open queries by age bucket", [
            (f"sum by (age_bucket) (edc_queries_open{{{STUDY}}})", "{{age_bucket}}"),
        ], "short", kind="bargauge"),
        _panel("Open queries by state", [
            (f"sum by (study, state) (edc_queries_open{{{STUDY}}})", "{{study}} {{state}}"),
        ], "short"),
        _panel("Oldest open query", [
            (f"max by (study) (edc_query_oldest_open_age_seconds{{{STUDY}}})", "{{study}}"),
        ], "s"),
        _panel("Time to answer / to close (median, 7 d)", [
            (f"histogram_quantile(0.5, sum by (study, le) (rate(edc_query_time_to_answer_seconds_bucket{{{STUDY}}}[7d])))", "answer {{study}}"),
            (f"histogram_quantile(0.5, sum by (study, le) (rate(edc_query_time_to_close_seconds_bucket{{{STUDY}}}[7d])))", "close {{study}}"),
        ], "s"),
    ], [study_var])  # fmt: skip
    pipeline = _dashboard("edc-latency-pipeline", "edc-latency pipeline health", [
        _panel("Messages/s by topic and outcome", [
            ("sum by (topic, outcome) (rate(edc_messages_total[5m]))", "{{topic}} {{outcome}}"),
        ], "ops"),
        _panel("Dead letters/s", [("sum by (topic) (rate(edc_dead_letters_total[5m]))", "{{topic}}")], "ops"),
        _panel("Consumer lag", [("sum by (topic) (edc_consumer_lag_messages)", "{{topic}}")], "short"),
        _panel("Age of the newest event", [("max by (topic) (edc_newest_event_age_seconds)", "{{topic}}")], "s"),
        _panel("Workers up", [('sum(up{job="edc-latency"})', "up"), ("sum(edc_worker_partitions)", "shards owned")], "short", kind="stat"),
        _panel("Processing delay", [("max by (topic) (edc_processing_delay_seconds)", "{{topic}}")], "s"),
        _panel("Publish and data freshness", [
            ("min by (study, dashboard) (edc_publish_silence_seconds)", "publish {{study}} {{dashboard}}"),
            ("min by (study, dashboard) (edc_data_freshness_seconds)", "data {{study}} {{dashboard}}"),
            ("max by (study, dashboard) (edc_data_stale_after_seconds)", "data threshold {{study}} {{dashboard}}"),
        ], "s", description="Time since the last publish, and age of the newest data the dashboard shows (its newest snapshot cutoff, or the newest entry record publishes made visible). A dashboard republished with a stuck cutoff is fresh by the first and stale by the second."),
        _panel("Data-integration uptime (30 d)", [
            ("study_dashboard:edc_integration_uptime:ratio_30d", "{{study}} {{dashboard}}"),
        ], "percentunit", description="Share of the judged minutes of the last 30 days of event time in which both freshness signals were within their thresholds; unknown minutes (no input yet) count in neither."),
        _panel("Uptime minutes by verdict (30 d)", [
            ("max by (study, dashboard, verdict) (edc_integration_minutes)", "{{study}} {{dashboard}} {{verdict}}"),
        ], "short", kind="table", description="Good, bad and unknown minutes of the 30-day window: unknown is the coverage the uptime lacks."),
    ], [])  # fmt: skip
    return {
        "data-latency.json": latency,
        "query-aging.json": queries,
        "pipeline-health.json": pipeline,
        "fsp-scorecard.json": fsp_scorecard(),
        "where-latency-accrues.json": where_latency_accrues(),
    }


# -- where latency accrues: pipeline stages (streams/stages.py) and their owners ---------
def where_latency_accrues() -> dict[str, Any]:
    study_var = _variable("study", "label_values(edc_stage_pending_entries, study)", "Study")
    owner_var = _variable(
        "owner", 'label_values(edc_stage_breaches_charged{study=~"$study"}, owner)', "Owner"
    )
    stage_p95 = _panel("Stage p95 (stacked) per study", [
        (f"histogram_quantile(0.95, sum by (study, dashboard, stage, le) (edc_stage_duration_seconds_bucket{{{STUDY}}}))", "{{study}} {{dashboard}} {{stage}}"),
    ], "s", description="p95 of each stage's durations over the entries published in the retention window, stacked in pipeline order per study and dashboard: where the latency accrues. Estimated from the histogram; the replay's stages.csv is exact.")
    stage_p95["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal", "group": "A"}}
    panels = [
        stage_p95,
        _panel("Stage p95 against its budget", [
            (f"histogram_quantile(0.95, sum by (study, dashboard, stage, le) (edc_stage_duration_seconds_bucket{{{STUDY}}}))", "p95 {{study}} {{stage}}"),
            (f"max by (study, dashboard, stage) (edc_stage_budget_seconds{{{STUDY}}})", "budget {{study}} {{stage}}"),
        ], "s", description="EdcStageOverBudget opens a ticket when a p95 stays above its budget for an hour."),
        _panel("Pending by stage", [
            (f"sum by (study, dashboard, stage) (edc_stage_pending_entries{{{STUDY}}})", "{{study}} {{dashboard}} {{stage}}"),
        ], "short", description="Entries waiting for the dashboard, by the stage each waits in."),
        _panel("Breaches charged by owner", [
            (f'sum by (study, owner) (edc_stage_breaches_charged{{{STUDY},owner=~"$owner"}})', "{{study}} {{owner}}"),
        ], "short", kind="bargauge", description="Entries published over SLA in the retention window, each charged to the stage that used the largest share of its SLA budget and to that stage's owner (site, an FSP, the sponsor platform)."),
        _panel("Share of the SLA each stage used", [
            (f"sum by (study, dashboard, stage) (edc_stage_duration_seconds_sum{{{STUDY}}}) / sum by (study, dashboard, stage) (edc_stage_duration_seconds_count{{{STUDY}}}) / on (study, dashboard) group_left max by (study, dashboard) (edc_sla_seconds{{{STUDY}}})", "{{study}} {{dashboard}} {{stage}}"),
        ], "percentunit", description="Mean stage duration over the SLA: the stages of an entry add up to its latency."),
    ]  # fmt: skip
    return _dashboard("edc-latency-stages", "Where latency accrues", panels, [study_var, owner_var])


# -- FSP scorecard: vendors and countries side by side, from the recording rules of
# deploy/prometheus/rules/scorecards.yml (no site label needed) -----------------------

# (recorded metric after the level prefix, column title, unit, thresholds as (colour, from)).
SHARE_STEPS = [("red", None), ("green", 0.95)]  # the objective, edc:slo_objective
COUNT_STEPS = [("green", None), ("red", 1)]
QUERY_STEPS = [("green", None), ("orange", 1), ("red", 10)]  # 10: EdcQueriesOver30Days
SCORECARD_COLUMNS = (
    ("edc_within_sla:ratio_rate1d", "within SLA (1 d)", "percentunit", SHARE_STEPS),
    ("edc_within_sla:ratio_rate7d", "within SLA (7 d)", "percentunit", SHARE_STEPS),
    ("edc_data_latency_seconds:p95_1d", "p95 latency (1 d)", "s", None),
    ("edc_backlog_entries:sum", "backlog", "short", None),
    ("edc_backlog_overdue_entries:sum", "overdue", "short", COUNT_STEPS),
    ("edc_queries_open_over_30d:sum", "queries open > 30 d", "short", QUERY_STEPS),
)


def _thresholds(steps: list[tuple[str, float | None]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def _scorecard_table(dimension: str, selector: str) -> dict[str, Any]:
    """One row per study and vendor (or country), one column per KPI, cells coloured."""
    panel = _panel(
        f"Scorecard by {dimension}",
        [(f"study_{dimension}:{metric}{{{selector}}}", title)
         for metric, title, _unit, _steps in SCORECARD_COLUMNS],
        "short", kind="table",
        description="One instant query per KPI, merged on (study, "
        f"{dimension}); an empty {dimension} groups entries without one.",
    )  # fmt: skip
    for target in panel["targets"]:
        target["format"], target["instant"] = "table", True
    refs = [chr(65 + i) for i in range(len(SCORECARD_COLUMNS))]
    panel["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {
            "excludeByName": {"Time": True},
            "renameByName": {f"Value #{ref}": column[1]
                             for ref, column in zip(refs, SCORECARD_COLUMNS, strict=True)},
        }},
    ]  # fmt: skip
    panel["fieldConfig"]["overrides"] = [
        {"matcher": {"id": "byName", "options": title}, "properties": [
            {"id": "unit", "value": unit},
            *([{"id": "thresholds", "value": _thresholds(steps)},
               {"id": "custom.cellOptions", "value": {"type": "color-background"}}]
              if steps else []),
        ]}
        for _metric, title, unit, steps in SCORECARD_COLUMNS
    ]  # fmt: skip
    return panel


def fsp_scorecard() -> dict[str, Any]:
    study_var = _variable("study", "label_values(edc_sla_seconds, study)", "Study")
    vendor_var = _variable(
        "vendor",
        'label_values(study_vendor:edc_within_sla:ratio_rate7d{study=~"$study"}, vendor)',
        "Vendor",
    )
    vendors = f'{STUDY},vendor=~"$vendor"'
    panels = [
        _scorecard_table("vendor", vendors),
        _scorecard_table("country", STUDY),
        _panel("SLA adherence per vendor (1 d)", [
            (f"study_vendor:edc_within_sla:ratio_rate1d{{{vendors}}}", "{{study}} {{vendor}}"),
            ("edc:slo_objective", "objective"),
        ], "percentunit", description="Share of the entries decided: published within their study's SLA, or over it (published late or still waiting past their deadline)."),
        _panel("Spread between vendors (share within SLA, 7 d)", [
            (f"study:edc_within_sla_between_vendors:min_rate7d{{{STUDY}}}", "lowest {{study}}"),
            (f"study:edc_within_sla_between_vendors:max_rate7d{{{STUDY}}}", "highest {{study}}"),
            (f"study:edc_within_sla_between_vendors:stddev_rate7d{{{STUDY}}}", "std dev {{study}}"),
        ], "percentunit", description="Is the variance between vendors shrinking?"),
    ]  # fmt: skip
    board = _dashboard("edc-latency-fsp", "FSP scorecard", panels, [study_var, vendor_var])
    # The two tables take the full width (six KPI columns), the time series share a row.
    for i, panel in enumerate(board["panels"]):
        panel["gridPos"] = (
            {"h": 9, "w": 24, "x": 0, "y": 9 * i}
            if i < 2
            else {"h": 8, "w": 12, "x": 12 * (i - 2), "y": 18}
        )
    return board


def _stacked(panel: dict[str, Any]) -> dict[str, Any]:
    panel["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}, "fillOpacity": 60}
    return panel


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every target of every panel."""
    return [
        (name, panel["title"], target["expr"])
        for name, board in dashboards().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, board in dashboards().items():
        (OUT / name).write_text(render(board))
        print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
