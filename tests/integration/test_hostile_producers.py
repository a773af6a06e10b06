"""Careless or hostile producers on a real broker: nothing valid is lost, nothing stalls (issue 11).

Each case is a reproduction that lost data on the router before: messages too big for
one shard message, an oversized invalid message beside valid ones in flight, and one
entry dated decades ahead that erased the engine's memory of event ids.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson
import pytest

from agents.harness.broker import produce_all
from agents.harness.processes import WorkerSubprocess, input_topics, scrape, total
from agents.harness.waiting import settled, wait_for
from agents.live.shard_wire import shard_of
from agents.settings import load_settings
from schemas import format_timestamp
from tests.integration.test_live_pipeline import read_all, wait_for_figures
from tests.integration.workload import BASE_US, HOUR_US, engine_figures, expected_engine

pytestmark = pytest.mark.integration


def _entry(i: int, study: str, record: str, at_us: int) -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": f"ent-{i}", "study_id": study, "site_id": "s1",
        "subject_id": f"subj-{i}", "form_id": "f", "record_id": record,
        "entered_at": format_timestamp(at_us),
    })  # fmt: skip


def _records_of_shard(study: str, shard: int, shards: int, n: int) -> list[str]:
    out: list[str] = []
    i = 0
    while len(out) < n:
        record = f"record-{i:07d}"
        if shard_of(study, record, shards) == shard:
            out.append(record)
        i += 1
    return out


def _produce(bootstrap: str, env: dict[str, str], messages: list[tuple[str, bytes]]) -> None:
    # Like a sponsor's producer: compressed, allowed bigger requests than our router's.
    asyncio.run(
        produce_all(
            bootstrap, input_topics(env), messages, compression_type="gzip",
            max_request_size=4 << 20, linger_ms=20,
        )
    )  # fmt: skip


def _wait_counts(worker: WorkerSubprocess, want: dict[str, float], timeout_s: float = 90) -> dict:
    def counts() -> dict[str, float]:
        samples = scrape(worker.url)
        return {outcome: total(samples, "edc_messages_total", outcome=outcome) for outcome in want}

    return settled(counts, lambda got: got == want, timeout_s) or {}


def test_oversized_batches_and_messages_lose_nothing(pipeline_env):
    """Three 740 KB publishes for one shard, then a 1.03 MB invalid message among valid entries."""
    study = "BIG-1"
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    records = _records_of_shard(study, 0, 4, 3 * 46_000)
    messages: list[tuple[str, bytes]] = [
        ("entries", _entry(i, study, records[i * 46_000], BASE_US + i * HOUR_US)) for i in range(3)
    ]
    for n in range(3):
        ids = records[n * 46_000 : (n + 1) * 46_000]
        publish = orjson.dumps({
            "schema": "dashboard.publish/1", "event_id": f"pub-big-{n}", "study_id": study,
            "published_at": format_timestamp(BASE_US + 10 * HOUR_US), "record_ids": ids,
        })  # fmt: skip
        assert 700_000 < len(publish) < 800_000
        messages.append(("publishes", publish))
    oversized = b'{"schema": "edc.entry/1", "pad": "' + b"x" * 1_030_000 + b'"}'
    tail = [("entries", _entry(10 + i, "ONC-1", f"r{i}", BASE_US + i * HOUR_US)) for i in range(4)]
    tail.insert(2, ("entries", oversized))
    settings = load_settings()
    expected = engine_figures(expected_engine(messages + tail, settings.engine_config()))
    with WorkerSubprocess(pipeline_env) as worker:
        worker.wait_ready()
        _produce(bootstrap, pipeline_env, messages)
        _produce(bootstrap, pipeline_env, tail)
        assert _wait_counts(worker, {"valid": 10, "invalid": 1}) == {"valid": 10, "invalid": 1}
        want, got = wait_for_figures([worker], expected)
        assert got == want
        assert worker.process is not None and worker.process.poll() is None  # never crashed
    dead = asyncio.run(read_all(bootstrap, pipeline_env["EDC_LATENCY_TOPIC_DEADLETTER"]))
    assert len(dead) == 1
    value, headers = dead[0]
    assert value == oversized[: settings.max_message_bytes]
    assert int(headers["truncated_from_bytes"]) == len(oversized)
    assert headers["reason"].decode().startswith(f"message too large: {len(oversized)} bytes")


def test_an_entry_dated_2062_is_dead_lettered_and_changes_nothing(pipeline_env):
    """Redelivery and late entries after it behave exactly as without it."""
    study = "ONC-1"
    entries = [("entries", _entry(i, study, f"rec-{i}", BASE_US + i * HOUR_US)) for i in range(6)]
    future = ("entries", _entry(99, study, "rec-99", 2_911_000_000_000_000))  # 2062
    publish = ("publishes", orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": "pub-1", "study_id": study,
        "published_at": format_timestamp(BASE_US + 6 * HOUR_US), "record_ids": ["rec-0", "rec-1"],
    }))  # fmt: skip
    late = ("entries", _entry(7, study, "rec-1", BASE_US + 3 * HOUR_US))  # a published record
    after = [entries[2], publish, late]  # entries[2] again: an at-least-once redelivery
    without = entries + after
    expected = engine_figures(expected_engine(without, load_settings().engine_config()))
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    with WorkerSubprocess(pipeline_env) as worker:
        worker.wait_ready()
        _produce(bootstrap, pipeline_env, [*entries, future])
        _produce(bootstrap, pipeline_env, after)
        want = {"valid": 8, "invalid": 1, "duplicate": 1}
        assert _wait_counts(worker, want) == want
        want_figures, got = wait_for_figures([worker], expected)
        assert got == want_figures
    dead = asyncio.run(read_all(bootstrap, pipeline_env["EDC_LATENCY_TOPIC_DEADLETTER"]))
    assert [h["reason"].decode().split(" (")[0] for _v, h in dead] == [
        "event time: more than max_future_skew ahead of its message's timestamp"
    ]


def test_a_tls_sasl_mismatch_fails_start_up_in_one_line(kafka_bootstrap):
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "EDC_LATENCY_SECURITY_PROTOCOL": "SASL_SSL",
        "EDC_LATENCY_SASL_MECHANISM": "PLAIN",
        "EDC_LATENCY_SASL_USERNAME": "monitor",
        "EDC_LATENCY_SASL_PASSWORD": "not-printed",
        "EDC_LATENCY_STARTUP_TIMEOUT": "3s",
    }
    import os

    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "worker"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,  # generous: the bound under test is the 3 s setting
    )
    assert result.returncode == 5
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert f"could not reach Kafka at {kafka_bootstrap}" in lines[0]
    assert "security_protocol=SASL_SSL" in lines[0] and "within 3s" in lines[0]
    assert "not-printed" not in lines[0]


def test_the_poison_message_is_dead_lettered_and_the_partition_moves_on(pipeline_env):
    """Issue 20: ~2 KB with 1,000 nested arrays in an unknown field, then 20 valid entries.

    Before, msgspec's RecursionError escaped parse_event: the router raised on the batch
    at every attempt, nothing behind the message was counted and the offset never moved.
    """
    from tests.schemas.hostile import poison_message

    poison = poison_message()
    entries = [
        ("entries", _entry(i, "ONC-1", f"rec-{i}", BASE_US + i * HOUR_US)) for i in range(20)
    ]
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = pipeline_env["EDC_LATENCY_TOPIC_ENTRIES"]
    with WorkerSubprocess(pipeline_env) as worker:
        worker.wait_ready()
        _produce(bootstrap, pipeline_env, [("entries", poison), *entries])
        want = {"valid": 20, "invalid": 1}
        assert _wait_counts(worker, want) == want
        committed = wait_for(
            lambda: asyncio.run(_committed(bootstrap, pipeline_env, topic)) >= 21, 60
        )
        assert committed, (
            f"committed offsets {asyncio.run(_committed(bootstrap, pipeline_env, topic))} of 21"
        )
        assert worker.process is not None and worker.process.poll() is None  # never crashed
    dead = asyncio.run(read_all(bootstrap, pipeline_env["EDC_LATENCY_TOPIC_DEADLETTER"]))
    assert [(value, headers["reason"]) for value, headers in dead] == [
        (poison, b"not JSON: nested too deeply")
    ]


async def _committed(bootstrap: str, env: dict[str, str], topic: str) -> int:
    """The group's committed offsets over the topic's partitions, summed."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=env["EDC_LATENCY_APP_ID"], enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()  # the metadata, for partitions_for_topic
        offsets = [
            await consumer.committed(TopicPartition(topic, p))
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        return sum(offset for offset in offsets if offset is not None and offset > 0)
    finally:
        await consumer.stop()
