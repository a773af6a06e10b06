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

from dataclasses import dataclass, field

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
