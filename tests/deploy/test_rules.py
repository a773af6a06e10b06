"""Alert and recording rules, Alertmanager and dashboards checked by the real Prometheus tools."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from agents.metrics.definitions import ALL_METRICS, exposed_names
from grafana.generate import OUT, dashboards, panel_queries, render

PROM = Path("deploy/prometheus")
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules_and_the_scrape_config():
    result = run("promtool", "check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    result = run("promtool", "test", "rules", str(PROM / "tests" / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_uptime_rule_pass():
    """Good / (good + bad), unknown minutes in neither, and no series when none was judged."""
    result = run("promtool", "test", "rules", str(PROM / "tests" / "uptime.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_config():
    result = run("amtool", "check-config", "deploy/alertmanager/alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def alerts() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_every_alert_has_a_firing_test_case_severity_and_a_runbook():
    tests = yaml.safe_load((PROM / "tests" / "alerts.test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    for rule in alerts():
        assert rule["alert"] in fired, f"{rule['alert']} has no promtool case where it fires"
        assert rule["labels"]["severity"] in ("page", "ticket")
        for key in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(key), f"{rule['alert']} lacks {key}"
        # One configurable base for every runbook (the external label runbook_base).
        assert rule["annotations"]["runbook_url"] == RUNBOOK_BASE + f"/{rule['alert']}.md"
        assert Path(f"docs/runbooks/{rule['alert']}.md").is_file()


RUNBOOK_BASE = "{{ with $externalLabels.runbook_base }}{{ . }}{{ else }}docs/runbooks{{ end }}"


def test_every_silent_trouble_alert_also_has_a_case_where_it_stays_silent():
    tests = yaml.safe_load((PROM / "tests" / "alerts.test.yml").read_text())["tests"]
    silent = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    for name in ("EdcShardsUnowned", "EdcCheckpointsRejected", "EdcShardRecordsSkipped",
                 "EdcWorkerUnready", "EdcEventsOverCardinality", "EdcLatencyBudgetBurnFast"):  # fmt: skip
        assert name in silent, f"{name} has no promtool case where it stays silent"


KNOWN = {name for spec in ALL_METRICS for name in exposed_names(spec)} | {"up"}


def names_in(expr: str) -> set[str]:
    cleaned = re.sub(r'"[^"]*"', '""', expr)  # drop label values
    cleaned = re.sub(r"\{[^}]*\}", "", cleaned)  # drop matchers
    cleaned = re.sub(r"\[[^\]]*\]", "", cleaned)  # drop ranges
    cleaned = re.sub(r"\boffset\s+\d+[smhdwy]", "", cleaned)  # drop offsets
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", cleaned))
    functions_and_keywords = {
        "sum", "max", "min", "by", "on", "rate", "increase", "histogram_quantile", "and", "or",
        "group_left", "scalar", "vector", "absent", "le", "study", "dashboard", "vendor", "topic",
        "state", "site", "country", "age_bucket", "outcome", "label_values", "count", "job",
        "stddev", "round", "last_over_time", "ALERTS", "instance", "reason", "time_left", "source",
        "verdict", "ignoring", "stage", "owner", "level",
    }  # fmt: skip
    return {w for w in words if w not in functions_and_keywords and not w.startswith("$")}


def recorded() -> set[str]:
    return {
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


@pytest.mark.parametrize(("board", "title", "expr"), panel_queries())
def test_every_panel_query_names_metrics_that_exist(board, title, expr):
    unknown = names_in(expr) - KNOWN - recorded()
    assert not unknown, f"{board} / {title}: unknown metrics {unknown}"


def test_every_rule_names_metrics_that_exist():
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                unknown = names_in(rule["expr"]) - KNOWN - recorded()
                assert not unknown, f"{rule.get('alert') or rule.get('record')}: {unknown}"


def test_committed_dashboards_are_what_the_generator_writes():
    for name, board in dashboards().items():
        assert (OUT / name).read_text() == render(board), (
            f"{name} drifted: run python -m grafana.generate"
        )
