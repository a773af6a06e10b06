"""TLS and SASL for real: the worker, export and replay --from-topics through a TLS proxy in front
of the embedded broker; a wrong CA and a refused login each fail at start with one line; the SASL
password appears in no output, log, repr, error or run.json."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka.helpers import create_ssl_context

from agents.audit.framing import EXPORT_HEADER
from agents.cli import main
from agents.harness.broker import produce_all
from agents.harness.processes import WorkerSubprocess, input_topics, isolated_env
from agents.settings import load_settings
from tests.conftest import TEST_SESSION_TIMEOUT
from tests.integration.both_replays import export_and_replay_both_ways
from tests.integration.test_live_pipeline import wait_for_figures
from tests.integration.workload import engine_figures, expected_engine, workload

pytestmark = pytest.mark.integration
AS_OF = "2026-01-12T00:00:00Z"
BOUND_S = 60  # a check at start that hangs fails here instead of hanging the suite


def _tls_env(tls_broker: dict, cafile: Path) -> dict[str, str]:
    return isolated_env(
        str(tls_broker["bootstrap"]),
        "edc-latency-tls",
        EDC_LATENCY_SECURITY_PROTOCOL="SSL",
        EDC_LATENCY_SSL_CAFILE=str(cafile),
        EDC_LATENCY_SHARD_PARTITIONS="4",
        EDC_LATENCY_CLOCK="event",
        EDC_LATENCY_CHECKPOINT_INTERVAL="1s",
        EDC_LATENCY_SESSION_TIMEOUT=TEST_SESSION_TIMEOUT,
    )


def test_worker_export_and_replay_from_topics_work_through_tls(tls_broker, tmp_path, monkeypatch):
    certs = tls_broker["certs"]
    env = _tls_env(tls_broker, certs.ca)
    messages = workload(seed=31)
    expected = engine_figures(expected_engine(messages, load_settings().engine_config()))
    with WorkerSubprocess(env) as worker:
        worker.wait_ready()
        asyncio.run(
            produce_all(
                env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(env), messages, linger_ms=5,
                security_protocol="SSL", ssl_context=create_ssl_context(cafile=str(certs.ca)),
            )
        )  # fmt: skip
        want, got = wait_for_figures([worker], expected)
        assert got == want

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    export, _report = export_and_replay_both_ways(tmp_path, "--as-of", AS_OF)
    header, *records = export.read_bytes().splitlines(keepends=True)
    assert header == EXPORT_HEADER
    assert len(records) == len(messages)  # every message came through TLS


COMMANDS = {
    "worker": ["worker"],
    "export": ["export", "--out", "{tmp}/out.jsonl"],
    "replay --from-topics": ["replay", "--from-topics", "--as-of", AS_OF, "--out", "{tmp}/r"],
}


def _run(command: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in COMMANDS[command]]
    import os

    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=BOUND_S,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_wrong_ca_fails_at_start_with_one_line(command, tls_broker, tmp_path):
    env = _tls_env(tls_broker, tls_broker["certs"].other_ca)
    result = _run(command, env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "certificate not trusted" in lines[0] and tls_broker["bootstrap"] in lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_refused_sasl_login_fails_with_one_line_and_never_shows_the_password(
    command, sasl_broker, tmp_path
):
    password = f"pw-{uuid.uuid4().hex}"
    env = isolated_env(
        sasl_broker,
        "edc-latency-sasl",
        EDC_LATENCY_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        EDC_LATENCY_SASL_MECHANISM="SCRAM-SHA-512",
        EDC_LATENCY_SASL_USERNAME="monitor",
        EDC_LATENCY_SASL_PASSWORD=password,
    )
    result = _run(command, env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SASL SCRAM-SHA-512 login as 'monitor'" in lines[0]
    assert password not in result.stdout + result.stderr


def test_the_sasl_password_is_not_in_run_json_reprs_or_configuration_errors(
    tmp_path, monkeypatch
):
    password = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("EDC_LATENCY_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("EDC_LATENCY_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("EDC_LATENCY_SASL_USERNAME", "monitor")
    monkeypatch.setenv("EDC_LATENCY_SASL_PASSWORD", password)
    settings = load_settings()
    assert settings.sasl_password_value == password  # what the Kafka clients get
    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert password not in shown
    monkeypatch.setenv("EDC_LATENCY_METRICS_PORT", "99999")
    with pytest.raises(Exception) as error:
        load_settings()
    assert password not in str(error.value)
    monkeypatch.delenv("EDC_LATENCY_METRICS_PORT")

    out = tmp_path / "replay"
    args = ["replay", "--input", "agents/data/sample-events.jsonl", "--as-of", AS_OF, "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    for written in out.iterdir():
        assert password.encode() not in written.read_bytes(), written.name
