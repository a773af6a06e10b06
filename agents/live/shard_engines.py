"""The engines of the shard partitions a worker owns: restore, apply, checkpoint, release.

Exactly-once effect on at-least-once delivery: each shard engine remembers the
next shard-topic offset it has not applied, so a message redelivered after a
restart or a rebalance is skipped by offset; events repeated upstream (a router
that re-sent a batch, a producer retry) are dropped by event id in the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.errors import EdcLatencyError, ShardsNotRestored
from agents.kafka.topics import READER_FETCH_BYTES, read_to_end
from agents.live.checkpoints import (
    MAX_STATE_BYTES,
    CheckpointReader,
    chunk_messages,
    dump_engine,
)
from agents.live.shard_wire import WireError, decode_message
from agents.live.tunables import RESTORE_ATTEMPTS, RESTORE_FIRST_BACKOFF_S
from agents.metrics.health import CheckpointHealth, TopicHealth
from streams import DUPLICATE, UNKNOWN_DASHBOARD, Engine, EngineConfig

log = logging.getLogger(__name__)



@dataclass(slots=True)
class Shard:
    engine: Engine
    next_offset: int = 0
    checkpointed_offset: int = -1


class ShardStore:
    def __init__(
        self,
        engine_config: EngineConfig,
        client_options: dict[str, Any],
        shard_topic: str,
        checkpoint_topic: str,
        input_topics: tuple[str, str, str],
        health: dict[str, TopicHealth],
        group_id: str,
        on_fatal: Callable[[EdcLatencyError], None],
        checkpoint_health: CheckpointHealth | None = None,
        signing_key: bytes | None = None,
        accepted_keys: tuple[bytes, ...] = (),
        max_state_bytes: int = MAX_STATE_BYTES,
    ) -> None:
        """``signing_key`` signs the checkpoints written; ``accepted_keys`` verify those read."""
        self.group_id = group_id
        self.on_fatal = on_fatal
        self.checkpoint_health = checkpoint_health or CheckpointHealth()
        self.signing_key = signing_key
        self.checkpoints = CheckpointReader(
            client_options,
            checkpoint_topic,
            shard_topic,
            engine_config,
            self.checkpoint_health,
            accepted_keys,
            max_state_bytes,
        )
        self._restores: set[asyncio.Task[None]] = set()
        self.engine_config = engine_config
        self.client_options = client_options
        self.shard_topic = shard_topic
        self.checkpoint_topic = checkpoint_topic
        self.input_topics = input_topics
        self.health = health
        self._health_by_index = [health[topic] for topic in input_topics]  # wire order
        self.shards: dict[int, Shard] = {}
        self._ready: dict[int, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    # -- ownership ------------------------------------------------------------------

    def engines(self) -> list[Engine]:
        return [shard.engine for shard in self.shards.values()]

    def unrestored(self) -> list[int]:
        """Owned shards whose engine is not restored yet: they apply nothing meanwhile."""
        # A copy first: /readyz asks from the metrics server's thread.
        return [p for p, ready in list(self._ready.items()) if not ready.is_set()]

    def assign(self, partitions: set[int]) -> None:
        """Start restoring newly owned shards; applying waits until each is ready."""
        new = sorted(p for p in partitions if p not in self._ready)
        for p in new:
            self._ready[p] = asyncio.Event()
        if new:
            # Owned: kept until done, and its failure handled (never "exception never retrieved").
            task = asyncio.get_running_loop().create_task(self._restore_retrying(new))
            self._restores.add(task)
            task.add_done_callback(self._restores.discard)

    def revoke(self, partitions: set[int]) -> None:
        """Forget shards moved to another worker: their series vanish from this one."""
        for p in partitions:
            self.shards.pop(p, None)
            self._ready.pop(p, None)

    async def _restore_retrying(self, partitions: list[int]) -> None:
        backoff = RESTORE_FIRST_BACKOFF_S
        for attempt in range(1, RESTORE_ATTEMPTS + 1):
            still_mine = [p for p in partitions if p in self._ready and not self._ready[p].is_set()]
            if not still_mine:
                return  # revoked meanwhile, or restored by a later assignment
            try:
                await self._restore(still_mine)
                return
            except Exception as error:
                reason = f"{type(error).__name__}: {error}"[:200]
                if attempt == RESTORE_ATTEMPTS:
                    self.on_fatal(
                        ShardsNotRestored(
                            f"shards {still_mine} not restored after {attempt} attempts ({reason})"
                        )
                    )
                    return
                log.warning(
                    "restore of shards %s failed (attempt %d of %d, %s); retrying in %.0fs",
                    still_mine,
                    attempt,
                    RESTORE_ATTEMPTS,
                    reason,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff *= 2

    async def _restore(self, partitions: list[int]) -> None:
        started = time.monotonic()
        async with self._lock:
            checkpoints = await self.checkpoints.latest(partitions)
            restored = {}
            for p in partitions:
                found = checkpoints.get(p)
                if found is not None:
                    restored[p] = Shard(found.engine, found.next_offset, found.next_offset)
                else:
                    restored[p] = Shard(self.new_engine())
            replayed = await self._replay_tail(restored)
            for p, shard in restored.items():
                if p in self._ready:  # not revoked meanwhile
                    self.shards[p] = shard
                    self._ready[p].set()
        log.warning(
            "restored shards %s: %d from checkpoints, %d events re-read, %.1fs",
            partitions,
            sum(1 for p in partitions if p in checkpoints),
            replayed,
            time.monotonic() - started,
        )

    def new_engine(self) -> Engine:
        """A shard's engine: its horizon follows the low watermark the router reports."""
        engine = Engine(self.engine_config)
        engine.track_inputs()
        return engine

    async def _committed(self, partitions: list[int]) -> dict[int, int]:
        """Where the group's shard agent will resume: what earlier workers already processed."""
        # A consumer that never subscribes does not join the group; it only reads offsets.
        # (The admin client's OffsetFetch does not decode against the embedded broker.)
        reader = AIOKafkaConsumer(
            **self.client_options, group_id=self.group_id, enable_auto_commit=False
        )
        await reader.start()
        try:
            out = {}
            for p in partitions:
                offset = await reader.committed(TopicPartition(self.shard_topic, p))
                if offset is not None and offset >= 0:
                    out[p] = offset
            return out
        finally:
            await reader.stop()

    async def _replay_tail(self, shards: dict[int, Shard]) -> int:
        """Re-apply the shard topic from each checkpoint's offset up to the group's committed offset.

        Messages after the committed offset come through the live agent (and are
        counted there); those before it were counted by the worker that processed them.
        """
        committed = await self._committed(list(shards))
        todo = {p: committed[p] for p, s in shards.items() if committed.get(p, 0) > s.next_offset}
        if not todo:
            return 0
        consumer = AIOKafkaConsumer(
            **self.client_options,
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=READER_FETCH_BYTES,
        )
        await consumer.start()
        count = 0
        try:
            tps = [TopicPartition(self.shard_topic, p) for p in todo]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, shards[tp.partition].next_offset)
            stop_at = {tp: todo[tp.partition] for tp in tps}
            async for record in read_to_end(consumer, tps, idle_ms=500, stop_at=stop_at):
                shard = shards[record.partition]
                count += self._apply(shard, record.offset, record.value, live=False)
        finally:
            await consumer.stop()
        return count

    # -- applying -------------------------------------------------------------------

    async def apply(self, partition: int, offset: int, payload: bytes) -> None:
        ready = self._ready.get(partition)
        if ready is None:  # a message from a shard we were never told about: treat as assigned
            self.assign({partition})
            ready = self._ready[partition]
        if not ready.is_set():
            await ready.wait()
        shard = self.shards.get(partition)
        if shard is not None:
            self._apply(shard, offset, payload, live=True)

    def _apply(self, shard: Shard, offset: int, payload: bytes | None, live: bool) -> int:
        if offset < shard.next_offset:
            return 0  # redelivered: already in this engine's state
        shard.next_offset = offset + 1
        try:
            items, progress = decode_message(payload or b"[]")
        except Exception as error:
            # Not written by a router of this or the previous version (they write only what
            # they validated): skip it whole, so it neither stalls the shard nor half-applies.
            self.checkpoint_health.skipped_shard_records += 1
            why = str(error) if isinstance(error, WireError) else type(error).__name__
            log.warning("skipped malformed record %s@%d: %s", self.shard_topic, offset, why)
            return 0
        engine = shard.engine
        counters = engine.counters
        evicted_before = counters.evicted_ids
        healths = self._health_by_index
        applied = 0
        topics = len(healths)
        for topic_index, counted, event in items:
            if not 0 <= topic_index < topics:
                # No router writes it: the item names no input topic to count it against.
                # Skipped before the engine sees it, so the figures never hold an uncounted event.
                self.checkpoint_health.skipped_shard_items += 1
                continue
            late_before = counters.late
            outcome = engine.apply(event)
            applied += 1
            if not live:
                continue
            health = healths[topic_index]
            health.saw_event(event.time_us)
            if counted:
                if outcome == DUPLICATE:
                    health.count("duplicate")
                elif outcome == UNKNOWN_DASHBOARD:
                    health.count("unknown_dashboard")
                else:
                    health.count("valid")
                if counters.late != late_before:
                    health.late += 1
        if progress is not None:  # after the events it covers, as the router wrote it
            engine.note_inputs(progress.marks, progress.partitions)
        self.checkpoint_health.evicted_event_ids += counters.evicted_ids - evicted_before
        return applied

    # -- checkpoints ----------------------------------------------------------------

    async def checkpoint(self, producer: AIOKafkaProducer) -> int:
        """Write a checkpoint of every owned shard that changed; returns how many were written."""
        written = 0
        partitions = len(await producer.partitions_for(self.checkpoint_topic))
        for p, shard in list(self.shards.items()):
            if shard.next_offset == shard.checkpointed_offset:
                continue
            offset = shard.next_offset
            # Serialized on the event loop: the engine must not change while it is copied.
            blob = dump_engine(shard.engine, p, offset)
            futures = [
                await producer.send(
                    self.checkpoint_topic,
                    value=value,
                    key=key,
                    headers=headers,
                    partition=p % partitions,  # all chunks of a shard in one partition, in order
                )
                for key, value, headers in chunk_messages(
                    p, offset, uuid.uuid4().hex, blob, self.signing_key
                )
            ]
            await asyncio.gather(*futures)
            shard.checkpointed_offset = offset
            written += 1
        return written
