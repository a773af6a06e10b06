"""A worker's readiness and health as an orchestrator sees them, on a real broker."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from agents.harness.broker import EmbeddedBroker
from agents.harness.processes import WorkerSubprocess, isolated_env
from agents.harness.waiting import wait_for
from tests.conftest import TEST_SESSION_TIMEOUT

pytestmark = pytest.mark.integration


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    if not wait_for(check, timeout_s):
        raise AssertionError(f"not within {timeout_s:.0f}s: {what}")


def test_readyz_follows_the_broker_while_healthz_stays_up():
    with EmbeddedBroker() as broker:
        env = isolated_env(
            broker.bootstrap_servers,
            "edc-latency-ready",
            EDC_LATENCY_SHARD_PARTITIONS="2",
            EDC_LATENCY_BROKER_UNREACHABLE_AFTER="3s",
            EDC_LATENCY_SESSION_TIMEOUT=TEST_SESSION_TIMEOUT,
        )
        with WorkerSubprocess(env) as worker:
            worker.wait_ready()
            wait_until(lambda: worker.probe("/readyz")[0] == 200, 30, "ready")
            _status, body = worker.probe("/readyz")
            assert body["shards"] == [0, 1] and body["reasons"] == []
            assert broker.pid is not None
            os.kill(broker.pid, signal.SIGSTOP)
            try:
                wait_until(lambda: worker.probe("/readyz")[0] == 503, 30, "not ready")
                _status, body = worker.probe("/readyz")
                assert any("broker unreachable" in r for r in body["reasons"])  # type: ignore[union-attr]
                assert worker.probe("/healthz")[0] == 200  # alive: restarting would not help
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            wait_until(lambda: worker.probe("/readyz")[0] == 200, 60, "ready again")
