"""Checkpoints read back from a topic anyone with produce rights can write to, on a real broker."""

from __future__ import annotations

import asyncio
import logging
import pickle
import uuid

import cramjam
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.kafka.topics import ensure_topics, worker_topics
from agents.live.checkpoints import (
    FORMAT,
    CheckpointReader,
    chunk_messages,
    dump_engine,
)
from agents.metrics.health import CheckpointHealth
from agents.settings import Settings, load_settings
from schemas import Rejection, parse_event
from streams import Engine
from tests.integration.workload import workload

pytestmark = pytest.mark.integration


class Payload:
    """Unpickling this runs `touch <marker>`."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (f"touch {self.marker}",))


async def _setup(bootstrap: str, app_id: str, shard_messages: int) -> tuple:
    settings = load_settings(bootstrap_servers=bootstrap, app_id=app_id, shard_partitions=2)
    options = settings.kafka_client_options()
    await ensure_topics(options, worker_topics(settings))
    producer = AIOKafkaProducer(**options, max_request_size=1 << 20)
    await producer.start()
    for _ in range(shard_messages):  # offsets 0.. of shard 0 exist
        await producer.send_and_wait(settings.shard_topic, b"[]", partition=0)
    return settings, producer


async def _write(producer, topic, shard, next_offset, blob, **override) -> None:
    for key, value, headers in chunk_messages(shard, next_offset, uuid.uuid4().hex, blob):
        headers = [(k, override.get(k, v)) for k, v in headers]
        await producer.send_and_wait(topic, value, key=key, headers=headers, partition=shard)


def _engine(settings, n: int) -> Engine:
    engine = Engine(settings.engine_config())
    for _kind, value in workload(entries=n):
        event = parse_event(value)
        if not isinstance(event, Rejection):
            engine.apply(event)
    return engine



async def _latest(settings: Settings, shards: list[int]) -> tuple:
    """What a restoring worker would take from the checkpoint topic, and what it refused."""
    health = CheckpointHealth()
    reader = CheckpointReader(
        settings.kafka_client_options(), settings.checkpoint_topic, settings.shard_topic,
        settings.engine_config(), health,
    )  # fmt: skip
    return await reader.latest(shards), health

def test_only_a_genuine_checkpoint_is_restored_and_a_pickle_never_runs(
    kafka_bootstrap, tmp_path, caplog
):
    marker = tmp_path / "pwned"

    async def scenario() -> tuple:
        settings, producer = await _setup(kafka_bootstrap, f"ckpt-{uuid.uuid4().hex[:8]}", 5)
        topic = settings.checkpoint_topic
        good = _engine(settings, 60)
        try:
            await _write(producer, topic, 0, 3, dump_engine(good, 0, 3))
            # Hostile or broken records written after it, each newer than the good one:
            pickled = pickle.dumps(Payload(str(marker)))
            for key, value, headers in chunk_messages(0, 4, "evil", pickled):
                await producer.send_and_wait(topic, value, key=key, headers=headers, partition=0)
            await producer.send_and_wait(  # the old pickle format, as an attacker would write it
                topic, pickled, key=b"0:0", partition=0,
                headers=[("format", b"edc-latency.checkpoint/2"), ("shard", b"0"),
                         ("next_offset", b"4"), ("checkpoint", b"x"), ("chunk", b"0/1")],
            )  # fmt: skip
            await producer.send_and_wait(  # a bad chunk header
                topic, b"", key=b"0:0", partition=0,
                headers=[("format", FORMAT), ("shard", b"0"), ("next_offset", b"4"),
                         ("checkpoint", b"y"), ("chunk", b"zero/one"), ("digest", b"00")],
            )  # fmt: skip
            # Well-formed, digest recomputed, claiming offsets the shard topic never had:
            await _write(producer, topic, 0, 1_000_000_000, dump_engine(good, 0, 1_000_000_000))
            # Tampered: the payload of a good checkpoint, another checkpoint's digest.
            other = dump_engine(_engine(settings, 10), 0, 4)
            await _write(producer, topic, 0, 4, other, digest=b"0" * 64)
            # Truncated.
            await _write(producer, topic, 0, 4, dump_engine(good, 0, 4)[:-50])
        finally:
            await producer.stop()
        return *await _latest(settings, [0, 1]), good

    with caplog.at_level(logging.WARNING, logger="agents.live.checkpoints"):
        found, health, good = asyncio.run(scenario())
    assert not marker.exists()
    assert set(found) == {0}
    assert found[0].next_offset == 3
    assert found[0].engine.to_state() == good.to_state()
    assert health.rejected == {
        "header": 2,  # the old pickle format, the bad chunk header
        "content": 2,  # the pickle under the new format, the truncated payload
        "digest": 1,  # the tampered one
        "offset": 1,  # the one claiming offsets that never existed
    }
    assert all("\n" not in r.getMessage() for r in caplog.records)


def _forged_payloads(settings, good: Engine, offset: int) -> list[bytes]:
    """The probe's forgeries, each a well-formed checkpoint at the shard's real offset."""
    wrong_type = {"shard": 0, "next_offset": offset, "engine": good.to_state()}
    wrong_type["engine"]["clock"][0] = "not-a-number"
    compressor = cramjam.zstd.Compressor(level=3)
    zeros = bytes(16 << 20)
    for _ in range(256):  # 4 GiB of zeros, a few dozen KB compressed
        compressor.compress(zeros)
    bomb = bytes(compressor.finish())
    return [
        bytes(cramjam.zstd.compress(orjson.dumps(wrong_type))),
        bomb,
        bomb[:4] + bytes([0xC0, bomb[5]]) + (4 << 30).to_bytes(8, "little") + bomb[6:],
    ]


def test_forged_checkpoints_with_matching_digests_leave_the_older_genuine_one_in_use(
    kafka_bootstrap,
):
    async def scenario() -> tuple:
        settings, producer = await _setup(kafka_bootstrap, f"ckpt-{uuid.uuid4().hex[:8]}", 5)
        topic = settings.checkpoint_topic
        good = _engine(settings, 60)
        try:
            await _write(producer, topic, 0, 3, dump_engine(good, 0, 3))
            for forged in _forged_payloads(settings, good, 4):  # newer than the good one
                await _write(producer, topic, 0, 4, forged)
        finally:
            await producer.stop()
        return *await _latest(settings, [0]), good

    found, health, good = asyncio.run(scenario())
    assert found[0].next_offset == 3
    assert found[0].engine.to_state() == good.to_state()
    assert health.rejected["content"] == 3


@pytest.mark.parametrize("keyed", [True, False])
def test_an_empty_state_at_the_real_offset_is_refused_with_a_key_and_accepted_without(
    kafka_bootstrap, keyed
):
    key = b"s" * 32 if keyed else None

    async def scenario() -> tuple:
        settings, producer = await _setup(kafka_bootstrap, f"ckpt-{uuid.uuid4().hex[:8]}", 5)
        topic = settings.checkpoint_topic
        good = _engine(settings, 60)
        try:
            blob = dump_engine(good, 0, 3)
            for k, value, headers in chunk_messages(0, 3, uuid.uuid4().hex, blob, key):
                await producer.send_and_wait(topic, value, key=k, headers=headers, partition=0)
            # The forgery: an empty engine at the shard's real offset, its digest computed
            # as anyone can (no key).
            await _write(producer, topic, 0, 4, dump_engine(Engine(settings.engine_config()), 0, 4))
        finally:
            await producer.stop()
        health = CheckpointHealth()
        reader = CheckpointReader(
            settings.kafka_client_options(), topic, settings.shard_topic,
            settings.engine_config(), health, keys=[key] if key else [],
        )  # fmt: skip
        return await reader.latest([0]), health, good

    found, health, good = asyncio.run(scenario())
    if keyed:
        assert (found[0].next_offset, health.rejected["digest"]) == (3, 1)
        assert found[0].engine.to_state() == good.to_state()
    else:  # documented: without a key the digest only detects damage
        assert (found[0].next_offset, health.rejected["digest"]) == (4, 0)
        assert found[0].engine.to_state()["studies"] == []
