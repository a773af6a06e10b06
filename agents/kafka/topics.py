"""Every topic the worker creates when it is missing: one table, read by `worker`, `demo` and the tests.

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
import time
from dataclasses import dataclass, field
from typing import Any

from agents.settings import Settings

INPUT_PARTITIONS = 4
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
