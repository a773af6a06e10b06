"""A shard restore's failure paths, on a real broker: transient errors, a dead broker, hostile records."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiokafka import AIOKafkaProducer

import agents.live.shard_engines as shards_module
from agents.errors import EdcLatencyError, ShardsNotRestored
from agents.harness.broker import EmbeddedBroker, free_port
from agents.harness.processes import WorkerSubprocess, input_topics, scrape, total
from agents.harness.waiting import wait_for_async
from agents.kafka.topics import ensure_topics, worker_topics
from agents.live.shard_engines import ShardStore
from agents.metrics.health import TopicHealth
from agents.settings import load_settings
from tests.integration.test_live_pipeline import wait_for_figures
from tests.integration.workload import engine_figures, expected_engine, produce_sync, workload

pytestmark = pytest.mark.integration


def _store(bootstrap: str, fatal: list[EdcLatencyError]) -> ShardStore:
    settings = load_settings(bootstrap_servers=bootstrap, shard_partitions=2)
    return ShardStore(
        settings.engine_config(),
        {**settings.kafka_client_options(), "request_timeout_ms": 2000},
        settings.shard_topic,
        settings.checkpoint_topic,
        settings.input_topics,
        {topic: TopicHealth() for topic in settings.input_topics},
        settings.app_id,
        on_fatal=fatal.append,
    )


async def _wait(store: ShardStore, fatal: list[EdcLatencyError], timeout_s: float) -> None:
    await wait_for_async(lambda: not store.unrestored() or fatal, timeout_s)


def test_a_restore_retries_through_a_broker_that_comes_back(monkeypatch):
    monkeypatch.setattr(shards_module, "RESTORE_FIRST_BACKOFF_S", 0.5)
    port = free_port()
    broker = EmbeddedBroker(port=port)
    fatal: list[EdcLatencyError] = []
    starter = threading.Timer(1.5, broker.start)  # the broker is down when the restore begins
    try:

        async def scenario() -> list[int]:
            store = _store(broker.bootstrap_servers, fatal)
            starter.start()
            store.assign({0, 1})
            await _wait(store, fatal, 60)
            return sorted(store.shards)

        assert asyncio.run(scenario()) == [0, 1]
        assert fatal == []
    finally:
        starter.cancel()
        starter.join()
        broker.stop()


def test_a_restore_that_keeps_failing_stops_the_worker_with_one_line(monkeypatch):
    monkeypatch.setattr(shards_module, "RESTORE_FIRST_BACKOFF_S", 0.05)
    fatal: list[EdcLatencyError] = []

    async def scenario() -> ShardStore:
        store = _store(f"127.0.0.1:{free_port()}", fatal)  # nothing listens there
        store.assign({0, 1})
        await _wait(store, fatal, 90)
        return store

    store = asyncio.run(scenario())
    assert len(fatal) == 1 and isinstance(fatal[0], ShardsNotRestored)
    assert "\n" not in str(fatal[0]) and fatal[0].exit_status == 7
    assert str(fatal[0]).startswith("shards [0, 1] not restored after 5 attempts")
    assert store.shards == {}


def test_a_malformed_shard_record_is_skipped_counted_and_never_stalls_the_shard(pipeline_env):
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    settings = load_settings(
        bootstrap_servers=bootstrap,
        app_id=pipeline_env["EDC_LATENCY_APP_ID"],
        shard_partitions=4,
        **{k.removeprefix("EDC_LATENCY_").lower(): v for k, v in pipeline_env.items()
           if k.startswith("EDC_LATENCY_TOPIC_")},
    )  # fmt: skip

    async def hostile() -> None:
        await ensure_topics(settings.kafka_client_options(), worker_topics(settings))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for partition, value in enumerate([b"[[0, 1]]", b"not json", b'{"a": 1}', b"[[9]]"]):
                await producer.send_and_wait(settings.shard_topic, value, partition=partition)
        finally:
            await producer.stop()

    asyncio.run(hostile())
    messages = workload(seed=5)
    expected = engine_figures(expected_engine(messages, load_settings().engine_config()))
    with WorkerSubprocess(pipeline_env) as worker:
        worker.wait_ready()
        produce_sync(bootstrap, input_topics(pipeline_env), messages)
        want, got = wait_for_figures([worker], expected)
        assert got == want, worker.log_tail()
        assert total(scrape(worker.url), "edc_shard_records_skipped_total") == 4
        assert worker.probe("/readyz")[0] in (200, 503)  # answers; 503 only before a probe
        log = worker.log_path.read_text()  # type: ignore[union-attr]
        assert log.count("skipped malformed record") == 4
        assert "Traceback" not in log
