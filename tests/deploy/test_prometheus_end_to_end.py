"""A real Prometheus scrapes a real worker: every panel and rule returns data, a breach pages.

The rules are the committed ones, loaded unchanged except that their ``for:``
durations are set to zero (promtool's unit tests cover those durations).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agents.harness.broker import free_port
from agents.harness.processes import WorkerSubprocess
from agents.harness.waiting import wait_for
from agents.sim.simulator import Simulation
from grafana.generate import panel_queries
from schemas.timestamps import US_PER_DAY, US_PER_HOUR, format_timestamp
from tests.deploy import servers
from tests.integration.workload import produce_sync

pytestmark = pytest.mark.integration
RULES = sorted(Path("deploy/prometheus/rules").glob("*.yml"))
# Scrapes and rule evaluations this often: each step below waits for the next one, not for
# a production interval.
INTERVAL = "500ms"


class Prometheus:
    def __init__(self, target: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="edc-prom-"))
        self.port = free_port()
        rule_files = []
        for path in RULES:
            document = yaml.safe_load(path.read_text())
            for group in document["groups"]:
                group["interval"] = INTERVAL
                for rule in group["rules"]:
                    rule.pop("for", None)
            (self.dir / path.name).write_text(yaml.safe_dump(document))
            rule_files.append(str(self.dir / path.name))
        config = {
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
            "rule_files": rule_files,
            "scrape_configs": [
                {"job_name": "edc-latency", "static_configs": [{"targets": [target]}]}
            ],
        }
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "log").open("wb"),
        )
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            servers.until_ready(self.url, "prometheus")
        except RuntimeError:
            self.stop()
            raise

    def query(self, expr: str) -> list[dict]:
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        """The firing alerts."""
        with urllib.request.urlopen(self.url + "/api/v1/alerts", timeout=10) as response:
            alerts = json.loads(response.read())["data"]["alerts"]
        return [a for a in alerts if a["state"] == "firing"]

    def firing(self) -> set[str]:
        return {a["labels"]["alertname"] for a in self.alerts()}

    def stop(self) -> None:
        servers.stop(self.process, self.dir)


@pytest.fixture
def scraped_worker(pipeline_env) -> Iterator[tuple[WorkerSubprocess, Prometheus, dict[str, str]]]:
    env = {
        **pipeline_env,
        "EDC_LATENCY_STUDIES": json.dumps(Simulation().study_configs_settings()),
        # What the FSP scorecard needs (docs/metrics.md): vendor and country, never site.
        "EDC_LATENCY_BREAKDOWN": "vendor,country",
    }
    with WorkerSubprocess(env) as worker:
        worker.wait_ready()
        prometheus = Prometheus(f"127.0.0.1:{worker.port}")
        try:
            yield worker, prometheus, env
        finally:
            prometheus.stop()


def recorded_rules() -> list[str]:
    return [
        rule["record"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]


def counted(prometheus: Prometheus) -> float:
    """The messages the worker had counted (any outcome) at Prometheus's latest scrape."""
    result = prometheus.query("sum(edc_messages_total)")
    return float(result[0]["value"][1]) if result else 0.0


def test_every_panel_and_rule_returns_data_and_a_breach_pages(scraped_worker):
    _worker, prometheus, env = scraped_worker
    topics = {
        "entries": env["EDC_LATENCY_TOPIC_ENTRIES"],
        "queries": env["EDC_LATENCY_TOPIC_QUERIES"],
        "publishes": env["EDC_LATENCY_TOPIC_PUBLISHES"],
    }
    simulation = Simulation(seed=9, invalid_rate=0.02)
    start = simulation.start_us
    # Feed 40 simulated days in slices, so counters rise between scrapes (rates need two points):
    # the next slice once Prometheus has scraped the worker counting every message so far.
    produced = 0
    for day in range(0, 40, 2):
        window = (start + day * US_PER_DAY, start + (day + 2) * US_PER_DAY)
        messages = list(simulation.events_between(*window))
        produce_sync(env["KAFKA_BOOTSTRAP_SERVERS"], topics, messages)
        produced += len(messages)
        scraped = wait_for(lambda n=produced: counted(prometheus) >= n, 60)
        assert scraped, f"Prometheus saw {counted(prometheus)} of {produced} messages"

    missing = []
    for board, title, expr in panel_queries():
        concrete = (expr.replace('=~"$study"', '=~".*"').replace('=~"$dashboard"', '=~".*"')
                    .replace('=~"$site"', '=~".*"').replace('=~"$country"', '=~".*"')
                    .replace('=~"$vendor"', '=~".*"').replace('=~"$owner"', '=~".*"'))  # fmt: skip
        if not wait_for(lambda q=concrete: prometheus.query(q), 20):
            missing.append(f"{board} / {title}: {expr}")
    for record in recorded_rules():
        if not wait_for(lambda r=record: prometheus.query(r), 20):
            missing.append(f"recording rule {record}")
    assert not missing, "no data for:\n" + "\n".join(missing)

    # The simulator's slower vendor drifts below the objective while its peer meets it.
    def drifting() -> set[tuple[str, str]]:
        return {(a["labels"]["study"], a["labels"]["vendor"])
                for a in prometheus.alerts() if a["labels"]["alertname"] == "EdcVendorSlaDrift"}  # fmt: skip

    assert wait_for(lambda: drifting(), 30) == {("ONC-301", "FSP-Beta")}

    # A breach: an entry of a study that nothing publishes, then event time moves on past its SLA.
    newest = start + 40 * US_PER_DAY
    breach = [
        ("entries", json.dumps({
            "schema": "edc.entry/1", "event_id": "breach-1", "study_id": "BREACH-1", "site_id": "X",
            "subject_id": "s", "form_id": "f", "record_id": "r", "entered_at": format_timestamp(newest),
        }).encode()),
        ("publishes", json.dumps({
            "schema": "dashboard.publish/1", "event_id": "tick", "study_id": "OTHER",
            "published_at": format_timestamp(newest + 30 * US_PER_HOUR), "record_ids": ["none"],
        }).encode()),
    ]  # fmt: skip
    produce_sync(env["KAFKA_BOOTSTRAP_SERVERS"], topics, breach)
    assert wait_for(lambda: "EdcOldestPendingOverSla" in prometheus.firing(), 60), (
        f"firing: {prometheus.firing()}"
    )
