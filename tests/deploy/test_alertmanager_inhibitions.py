"""The inhibit rules of deploy/alertmanager/alertmanager.yml, on a real Alertmanager.

Alerts are posted to a running ``prometheus-alertmanager`` (Debian's package, installed
by deploy/install-tools.sh) through its API, and the test reads back which ones it
holds inhibited and by what: a down worker's unowned shards hold back only the pages
of the studies it exported, a worker whose partitions others took over holds back
nothing, a stale topic only what it explains.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from agents.harness.broker import free_port
from agents.harness.waiting import wait_for
from tests.deploy import servers

CONFIG = Path("deploy/alertmanager/alertmanager.yml")
BURN = "EdcLatencyBudgetBurnFast"


def _binary() -> str:
    for name in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no Alertmanager: run deploy/install-tools.sh (make tools) as root")


class Alertmanager:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="edc-am-"))
        config = yaml.safe_load(CONFIG.read_text())
        # The committed inhibit rules and routes; notifications go nowhere (a closed port).
        for receiver in config["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = f"http://127.0.0.1:{free_port()}/"
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [
                _binary(),
                f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
                "--cluster.listen-address=",  # a single instance: no gossip port
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "log").open("wb"),
        )
        try:
            servers.until_ready(self.url, "alertmanager")
        except RuntimeError:
            self.stop()
            raise

    def post(self, *alerts: dict[str, str]) -> None:
        now = datetime.now(UTC).isoformat()
        body = json.dumps([{"labels": labels, "startsAt": now} for labels in alerts]).encode()
        request = urllib.request.Request(
            self.url + "/api/v2/alerts", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200  # Alertmanager took the alerts

    def inhibited(self) -> dict[tuple[tuple[str, str], ...], bool]:
        """Every alert (by its labels) and whether Alertmanager holds it inhibited."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=10) as response:
            alerts = json.loads(response.read())
        return {
            tuple(sorted(a["labels"].items())): bool(a["status"]["inhibitedBy"]) for a in alerts
        }

    def settle(self, expected: dict[tuple[tuple[str, str], ...], bool]) -> dict:
        """Poll until the state reads as expected (the inhibitor learns of alerts
        asynchronously) or 15 s pass; returns the last state read."""
        seen: dict = {}

        def settled() -> bool:
            state = self.inhibited()
            seen.update((k, state.get(k)) for k in expected)
            return seen == expected

        wait_for(settled, 15)
        return seen

    def stop(self) -> None:
        servers.stop(self.process, self.dir)


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[Alertmanager]:
    am = Alertmanager()
    try:
        yield am
    finally:
        am.stop()


def alert(name: str, **labels: str) -> dict[str, str]:
    severity = "ticket" if name in ("EdcInputStale", "EdcLatencyBudgetBurnSlow") else "page"
    return {"alertname": name, "severity": severity, **labels}


def key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_unowned_shards_inhibit_only_their_studies_and_a_covered_worker_down_nothing(
    alertmanager,
):
    # Study A's default dashboard lost the down worker's shards: its pages wait.
    a_default = alert(BURN, study="A", dashboard="default")
    a_stalled = alert("EdcPublishingStalled", study="A", dashboard="default")
    a_other_dashboard = alert(BURN, study="A", dashboard="safety")
    b_burn = alert(BURN, study="B", dashboard="default")
    b_pending = alert("EdcOldestPendingOverSla", study="B", dashboard="default")
    alertmanager.post(
        alert("EdcShardsUnowned", study="A", dashboard="default"),
        # w1 is down but not the source of anything; w2's partitions were taken over.
        alert("EdcWorkerDown", job="edc-latency", instance="w1"),
        alert("EdcWorkerDown", job="edc-latency", instance="w2"),
        a_default, a_stalled, a_other_dashboard, b_burn, b_pending,
    )  # fmt: skip
    expected = {
        key(a_default): True,
        key(a_stalled): True,
        key(a_other_dashboard): False,  # equal: study and dashboard
        key(b_burn): False,
        key(b_pending): False,
        key(alert("EdcWorkerDown", job="edc-latency", instance="w2")): False,
    }
    assert alertmanager.settle(expected) == expected


def test_a_stale_topic_inhibits_only_what_it_explains(alertmanager):
    c_stalled = alert("EdcPublishingStalled", study="C", dashboard="default")
    c_burn = alert(BURN, study="C", dashboard="default")
    alertmanager.post(
        alert("EdcInputStale", topic="edc.queries"),  # a quiet queries topic is normal
        alert("EdcInputStale", topic="edc.entries"),
        c_stalled, c_burn,
    )  # fmt: skip
    quiet = {key(c_stalled): False, key(c_burn): False}
    assert alertmanager.settle(quiet) == quiet
    alertmanager.post(alert("EdcInputStale", topic="dashboard.publishes"))
    explained = {key(c_stalled): True, key(c_burn): False}
    assert alertmanager.settle(explained) == explained


def test_no_worker_exporting_at_all_inhibits_every_study_page():
    alertmanager = Alertmanager()  # its own: this inhibits every study's pages
    try:
        _everything_waits_for_the_absent_metrics(alertmanager)
    finally:
        alertmanager.stop()


def _everything_waits_for_the_absent_metrics(alertmanager: Alertmanager) -> None:
    d_burn = alert(BURN, study="D", dashboard="default")
    d_pending = alert("EdcOldestPendingOverSla", study="D", dashboard="default")
    alertmanager.post(d_burn, d_pending)
    assert alertmanager.settle({key(d_burn): False}) == {key(d_burn): False}
    alertmanager.post(alert("EdcMetricsAbsent", job="edc-latency"))
    everything = {key(d_burn): True, key(d_pending): True}
    assert alertmanager.settle(everything) == everything
