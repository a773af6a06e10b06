"""The live pipeline on a real broker: produce → Faust agents → /metrics, against the engine."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.harness.processes import WorkerSubprocess, input_topics, scrape, total
from agents.harness.waiting import settled
from agents.settings import load_settings
from schemas import Rejection, parse_event
from tests.integration.workload import (
    engine_figures,
    expected_engine,
    produce_sync,
    scraped_figures,
    workload,
)

pytestmark = pytest.mark.integration


def _aligned(expected: dict[str, float], scraped: dict[str, float]) -> tuple[dict, dict]:
    keys = sorted(set(expected) | set(scraped))
    return {k: expected.get(k, 0) for k in keys}, {k: scraped.get(k, 0) for k in keys}


def wait_for_figures(
    workers: list[WorkerSubprocess], expected: dict[str, float], timeout_s: float = 90
):
    """Scrape until the workers' summed figures equal the expectation, or give the last ones."""
    scraped = settled(
        lambda: _aligned(expected, scraped_figures([scrape(w.url) for w in workers])),
        lambda aligned: aligned[0] == aligned[1],
        timeout_s,
        ignoring=(OSError,),  # a worker whose /metrics is not up yet
    )
    return scraped or _aligned(expected, {})


def test_live_metrics_equal_the_engine_and_invalid_messages_reach_the_dead_letter_topic(
    pipeline_env,
):
    messages = workload()
    settings = load_settings()  # defaults; the worker reads the same env below
    expected = engine_figures(expected_engine(messages, settings.engine_config()))
    with WorkerSubprocess(pipeline_env) as worker:
        worker.wait_ready()
        produce_sync(pipeline_env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(pipeline_env), messages)
        want, got = wait_for_figures([worker], expected)
        assert got == want
        samples = scrape(worker.url)
        invalid = [v for _k, v in messages if isinstance(parse_event(v), Rejection)]
        assert total(samples, "edc_messages_total", outcome="invalid") == len(invalid)
        assert total(samples, "edc_dead_letters_total") == len(invalid)
        assert total(samples, "edc_messages_total", outcome="duplicate") == sum(
            1 for i in range(400) if i % 9 == 0
        )
    dead = asyncio.run(
        read_all(
            pipeline_env["KAFKA_BOOTSTRAP_SERVERS"], pipeline_env["EDC_LATENCY_TOPIC_DEADLETTER"]
        )
    )
    assert sorted(value for value, _h in dead) == sorted(invalid)
    for value, headers in dead:
        assert headers["source_topic"].decode() in input_topics(pipeline_env).values()
        assert int(headers["source_offset"]) >= 0
        assert headers["reason"].decode() == parse_event(value).reason  # type: ignore[union-attr]


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        out = []
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                return out
            for records in batch.values():
                out.extend((r.value, dict(r.headers)) for r in records)
    finally:
        await consumer.stop()


def test_a_worker_killed_mid_stream_resumes_with_exact_figures(pipeline_env):
    messages = workload(seed=11)
    half = len(messages) // 2
    expected = engine_figures(expected_engine(messages, load_settings().engine_config()))
    partial = engine_figures(expected_engine(messages[:half], load_settings().engine_config()))
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    first = WorkerSubprocess(pipeline_env).start()
    try:
        first.wait_ready()
        produce_sync(bootstrap, input_topics(pipeline_env), messages[:half])
        want, got = wait_for_figures([first], partial)
        assert got == want
        time.sleep(2.5)  # let a checkpoint (every 1 s here) and an offset commit happen
        first.kill()
    finally:
        first.close()
    produce_sync(bootstrap, input_topics(pipeline_env), messages[half:])
    with WorkerSubprocess(pipeline_env) as second:
        second.wait_ready()
        want, got = wait_for_figures([second], expected)
        assert got == want


def test_two_workers_split_the_shards_and_export_no_stale_series(pipeline_env):
    messages = workload(seed=23)
    third = len(messages) // 3
    expected = engine_figures(expected_engine(messages, load_settings().engine_config()))
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    with WorkerSubprocess(pipeline_env) as a:
        a.wait_ready()
        produce_sync(bootstrap, input_topics(pipeline_env), messages[:third])
        with WorkerSubprocess(pipeline_env) as b:
            b.wait_ready(timeout_s=120)
            produce_sync(bootstrap, input_topics(pipeline_env), messages[third:])
            want, got = wait_for_figures([a, b], expected, timeout_s=120)
            assert got == want
            owned = [total(scrape(w.url), "edc_worker_partitions") for w in (a, b)]
            # Both work, and every shard is exported by exactly one of them.
            assert all(n > 0 for n in owned)
            assert sum(owned) == 4
