"""Export and replay against a real broker: same answer from topics and from an export; no commits."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.sim.simulator import Simulation
from tests.integration.both_replays import export_and_replay_both_ways
from tests.integration.workload import produce_sync

pytestmark = pytest.mark.integration
AS_OF = "2026-01-12T00:00:00Z"


@pytest.fixture
def filled_topics(pipeline_env, monkeypatch):
    for name, value in pipeline_env.items():
        monkeypatch.setenv(name, value)
    from agents.harness.processes import input_topics
    from agents.kafka.topics import ensure_topics

    topics = input_topics(pipeline_env)

    asyncio.run(ensure_topics({"bootstrap_servers": pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]},
                              dict.fromkeys(topics.values(), 3)))  # fmt: skip
    messages = list(
        Simulation(seed=5, invalid_rate=0.01, duplicate_rate=0.02).events(7 * 86_400_000_000)
    )
    produce_sync(pipeline_env["KAFKA_BOOTSTRAP_SERVERS"], topics, messages)
    return pipeline_env, messages


def test_replay_from_topics_equals_replay_of_an_export_and_commits_nothing(filled_topics, tmp_path):
    env, messages = filled_topics
    options = ["--as-of", AS_OF, "--config", "deploy/simulated-studies.toml"]
    export, _report = export_and_replay_both_ways(tmp_path, *options)
    manifest = json.loads((tmp_path / "audit.manifest.json").read_text())
    # One record per message after the format line (agents/audit/framing.py).
    assert manifest["count"] == len(messages) == len(export.read_bytes().splitlines()) - 1
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(export.read_bytes()).hexdigest()
    assert sorted(manifest["topics"]) == sorted(manifest["partitions"])

    committed = asyncio.run(_committed(env, os.environ["EDC_LATENCY_APP_ID"]))
    assert committed == {}, "export/replay committed offsets of the live group"


async def _committed(env, group: str) -> dict:
    consumer = AIOKafkaConsumer(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        out = {}
        for key in (
            "EDC_LATENCY_TOPIC_ENTRIES",
            "EDC_LATENCY_TOPIC_QUERIES",
            "EDC_LATENCY_TOPIC_PUBLISHES",
        ):
            for p in consumer.partitions_for_topic(env[key]) or ():
                offset = await consumer.committed(TopicPartition(env[key], p))
                if offset is not None:
                    out[(env[key], p)] = offset
        return out
    finally:
        await consumer.stop()
