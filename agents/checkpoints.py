"""Engine checkpoints in Kafka: the coalesced alternative to a changelog write per event.

A shard's whole engine state is written every ``checkpoint_interval`` (only
when it changed), pickled and compressed, in chunks under Kafka's message size
limit, keyed by shard so a compacted topic keeps the newest. Each checkpoint
records the shard-topic offset it covers; recovery loads the newest complete
checkpoint and re-reads the shard partition from that offset (docs/design.md).
"""

from __future__ import annotations

import asyncio
import pickle
import zlib
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import Engine

CHUNK_BYTES = 900_000  # under the 1 MB default max message size
# The engine is pickled, so its layout is part of the format: bump the version when
# streams/ changes its state classes. Checkpoints of another version are skipped and
# the shard is rebuilt from its topic (docs/design.md, "Upgrades").
# /2: entries became int keys and query folds plain fields (no TrackedEntry objects).
FORMAT = b"edc-latency.checkpoint/2"


@dataclass(slots=True)
class Checkpoint:
    shard: int
    next_offset: int
    engine: Engine


def dump_engine(engine: Engine) -> bytes:
    return zlib.compress(pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL), 1)


def load_engine(blob: bytes) -> Engine:
    # Checkpoints are written by our own workers into our own topic; they are trusted input.
    engine = pickle.loads(zlib.decompress(blob))
    if not isinstance(engine, Engine):
        raise ValueError("checkpoint does not hold an engine")
    return engine


def chunk_messages(
    shard: int, next_offset: int, checkpoint_id: str, blob: bytes
) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """(key, value, headers) for each chunk of one checkpoint."""
    chunks = [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
    out = []
    for index, chunk in enumerate(chunks):
        headers = [
            ("format", FORMAT),
            ("shard", str(shard).encode()),
            ("next_offset", str(next_offset).encode()),
            ("checkpoint", checkpoint_id.encode()),
            ("chunk", f"{index}/{len(chunks)}".encode()),
        ]
        out.append((f"{shard}:{index}".encode(), chunk, headers))
    return out


async def read_to_end(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], idle_ms: int = 300
) -> Any:
    """Yield every record of the assigned partitions up to their end.

    The embedded broker under-reports end offsets after batched produces, so
    "the end" is: positions at or past the reported end offsets *and* a fetch
    that returns nothing (agents/broker.py).
    """
    ends = await consumer.end_offsets(partitions)
    while True:
        batch = await consumer.getmany(*partitions, timeout_ms=idle_ms)
        for records in batch.values():
            for record in records:
                yield record
        if not batch:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                return


async def latest_checkpoints(client_options: dict[str, Any], topic: str) -> dict[int, Checkpoint]:
    """The newest complete checkpoint of every shard found in the checkpoint topic."""
    consumer = AIOKafkaConsumer(
        **client_options, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return {}
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending: dict[tuple[int, bytes], dict[int, bytes]] = {}
        complete: dict[int, tuple[int, bytes]] = {}
        async for record in read_to_end(consumer, partitions):
            headers = dict(record.headers or ())
            if headers.get("format") != FORMAT:
                continue
            shard = int(headers["shard"])
            checkpoint_id = headers["checkpoint"]
            index, total = (int(x) for x in headers["chunk"].decode().split("/"))
            parts = pending.setdefault((shard, checkpoint_id), {})
            parts[index] = record.value or b""
            if len(parts) == total:
                blob = b"".join(parts[i] for i in range(total))
                next_offset = int(headers["next_offset"])
                del pending[(shard, checkpoint_id)]
                # The newest is the one covering the most of the shard topic.
                if shard not in complete or next_offset >= complete[shard][0]:
                    complete[shard] = (next_offset, blob)
        loop = asyncio.get_running_loop()
        out = {}
        for shard, (next_offset, blob) in complete.items():
            engine = await loop.run_in_executor(None, load_engine, blob)
            out[shard] = Checkpoint(shard, next_offset, engine)
        return out
    finally:
        await consumer.stop()
