"""Every topic the worker creates when it is missing, their creation, and reading a topic to its end.

The table (``worker_topics``) is read by `worker`, `demo` and the tests.

Input topics belong to the sponsor's producers; they are only created for the
demo and tests. The internal ones are built to last (docs/design.md, "Internal
topics"):

* ``<app_id>.shards``: ``shard_partitions`` partitions, deleted after
  ``shard_topic_retention``; a shard without a usable checkpoint is rebuilt from it.
* ``<app_id>.checkpoints``: ``shard_partitions`` partitions, compacted, keyed
  ``<shard>:<chunk>``: only the newest checkpoint per shard needs to survive.
* dead-letter: 1 partition, the broker's default retention, for inspection.

Replication: ``replication_factor`` (None: the broker's default, sent as -1).
Existing topics are left as they are; a checkpoint topic with fewer partitions
than shards still works (shard ``s`` lives in partition ``s % partitions``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.errors import BrokerUnreachable
from agents.settings import Settings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, TopicPartition

INPUT_PARTITIONS = 4
# Per partition and fetch, for consumers that read whole partitions (export, replay, restore):
# aiokafka's default is 1 MiB, about one of the worker's largest messages per round trip.
READER_FETCH_BYTES = 8 << 20
# Compaction only runs on closed segments; an hour bounds how many superseded
# checkpoints a restore may have to skip over.
CHECKPOINT_SEGMENT_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = -1  # the broker's default.replication.factor
    config: dict[str, str] = field(default_factory=dict)


def worker_topics(settings: Settings, input_partitions: int = INPUT_PARTITIONS) -> list[TopicSpec]:
    replication = -1 if settings.replication_factor is None else settings.replication_factor
    return [
        *(TopicSpec(topic, input_partitions, replication) for topic in settings.input_topics),
        TopicSpec(settings.topic_deadletter, 1, replication),
        TopicSpec(
            settings.shard_topic,
            settings.shard_partitions,
            replication,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(round(settings.shard_topic_retention * 1000)),
            },
        ),
        TopicSpec(
            settings.checkpoint_topic,
            settings.shard_partitions,
            replication,
            {"cleanup.policy": "compact", "segment.ms": str(CHECKPOINT_SEGMENT_MS)},
        ),
    ]


async def ensure_topics(
    client_options: dict[str, object],
    topics: dict[str, int] | list[TopicSpec],
    timeout_s: float = 30.0,
) -> None:
    """Create missing topics: {name: partitions}, or specs; existing ones stay."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    specs = (
        [TopicSpec(name, count) for name, count in topics.items()]
        if isinstance(topics, dict)
        else topics
    )

    admin = AIOKafkaAdminClient(**client_options)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        todo = [spec for spec in specs if spec.name not in existing]
        default = await _default_replication(admin) if todo else 1
        missing = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=default
                if spec.replication_factor < 1
                else spec.replication_factor,
                topic_configs=spec.config,
            )
            for spec in todo
        ]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


async def _default_replication(admin: Any) -> int:
    """The broker's default.replication.factor; else min(3, brokers).

    aiokafka speaks CreateTopics up to v3, which cannot ask for "the broker's default" (-1).
    """
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    brokers = sorted(b.nodeId for b in admin._client.cluster.brokers())
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, str(brokers[0]))]
        )
        for response in responses:
            for resource in response.resources:
                for entry in resource[4]:
                    if entry[0] == "default.replication.factor" and entry[1]:
                        return max(1, int(entry[1]))
    except Exception:  # brokers that do not describe their configuration (the embedded one)
        pass
    return max(1, min(3, len(brokers)))


@asynccontextmanager
async def topic_reader(client_options: Mapping[str, Any]) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer outside any consumer group, for partitions it is assigned.

    It never joins a group nor commits an offset (an export, a replay or a restore must not
    move the live group), and starts at a partition's log start unless it is told to seek.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaConnectionError

    consumer = AIOKafkaConsumer(
        **client_options,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=READER_FETCH_BYTES,
    )
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL + 1)  # its retries would print lines of their own
    try:
        await consumer.start()
    except KafkaConnectionError as error:
        await consumer.stop()  # what start opened before it gave up
        raise BrokerUnreachable(
            f"could not reach Kafka at {client_options.get('bootstrap_servers')}: {error}"
        ) from None
    finally:
        quiet.setLevel(level)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topics: list[str]) -> dict[str, list[int]]:
    """Each topic's partitions, sorted (an empty list: no such topic).

    A consumer's own metadata only covers the topics it was assigned; this asks the
    cluster for all of them, in one request.
    """
    cluster = await consumer._client.fetch_all_metadata()
    return {topic: sorted(cluster.partitions_for_topic(topic) or ()) for topic in topics}


async def read_to_end(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    idle_ms: int = 300,
    stop_at: Mapping[TopicPartition, int] | None = None,
) -> AsyncIterator[Any]:
    """Yield every record of the assigned partitions from their positions up to their end.

    Some brokers under-report end offsets after batched produces (the embedded
    one does: agents/harness/broker.py), so "the end" is: positions at or past the
    end offsets reported at the start *and* a fetch that returns nothing. With
    ``stop_at`` (exact offsets, such as a group's committed offsets) each partition
    ends at its own offset instead: records from it on are not yielded, and a
    partition that reached it is no longer fetched.
    """
    if stop_at is not None:
        active = list(partitions)
        while active:
            batch = await consumer.getmany(*active, timeout_ms=idle_ms)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < stop_at[tp]:
                        yield record
            active = [tp for tp in active if await consumer.position(tp) < stop_at[tp]]
        return
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
