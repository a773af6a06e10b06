"""The Faust app: a router agent over the input topics and a shard agent over the shard topic.

router: validate each input message (agents/live/routing.py), send invalid ones to the
        dead-letter topic (original bytes, cut to max_message_bytes, source
        topic/partition/offset and the reason in headers), and forward valid ones,
        batched per shard and cut by bytes, to the internal shard topic. A batch's
        input offsets are acknowledged only once every one of its sends has
        succeeded: a failed send is retried, never dropped.
shards: apply each batch to the engine of its shard partition (agents/live/shard_engines.py).

The agent bodies stay short; the work is in named helpers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import faust
from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from faust.types.tuples import Message

from agents.errors import EdcLatencyError
from agents.kafka.codecs import name_undecodable_batches
from agents.live.broker_watch import BrokerWatch
from agents.live.checkpoint_writer import CheckpointWriter
from agents.live.delivery import Send, dead_letter, deliver
from agents.live.endpoint import Endpoint
from agents.live.faust_app import faust_app
from agents.live.fetch_wait import lower_worker_fetch_wait
from agents.live.group_leave import leave_group_in_any_generation
from agents.live.readiness import Readiness
from agents.live.routing import Router
from agents.live.shard_engines import ShardStore
from agents.live.stalls import StallWatch
from agents.live.tunables import (
    BROKER_PROBE_EVERY_S,
    FETCH_MAX_WAIT_MS,
    PROGRESS_EVERY_S,
    ROUTER_BATCH,
    ROUTER_WITHIN_S,
)
from agents.metrics.cardinality import CardinalityGate
from agents.metrics.health import TopicHealth
from agents.settings import Settings
from streams.stages import stage_problem

log = logging.getLogger(__name__)


def lower_fetch_wait() -> None:
    lower_worker_fetch_wait(FETCH_MAX_WAIT_MS)


class LiveApp:
    """Everything one worker process holds: the Faust app and its agents, wired to its shard
    engines (``ShardStore``), the broker watch (``BrokerWatch``) and the HTTP endpoint
    (``Endpoint``); sends that must arrive go through ``delivery.py``."""

    def __init__(self, settings: Settings) -> None:
        lower_fetch_wait()
        leave_group_in_any_generation()
        name_undecodable_batches(self.stop_fatally)
        self.settings = settings
        self.health = {topic: TopicHealth() for topic in settings.input_topics}
        self.readiness = Readiness(settings.broker_unreachable_after)
        self.client_options = settings.kafka_client_options()
        self.stalls = StallWatch(settings.partition_stall_after)
        signing_key, accepted_keys = settings.checkpoint_keys
        self.store = ShardStore(
            settings.engine_config(),
            self.client_options,
            settings.shard_topic,
            settings.checkpoint_topic,
            settings.input_topics,
            self.health,
            settings.app_id,
            on_fatal=self.stop_fatally,
            signing_key=signing_key,
            accepted_keys=accepted_keys,
            max_state_bytes=settings.checkpoint_max_state_bytes,
        )
        self.last_offsets: dict[tuple[str, int], int] = {}
        self._routing = asyncio.Lock()
        self._topic_index = {topic: i for i, topic in enumerate(settings.input_topics)}
        self.gate = CardinalityGate(
            settings.studies,
            settings.max_studies,
            settings.max_groups_per_study,
            settings.admit_only_configured_studies,
        )
        self.router = Router(
            settings.shard_partitions,
            settings.max_message_bytes,
            settings.max_future_skew,
            self.gate,
            settings.breakdown,
            settings.input_idle_after,
            partial(stage_problem, settings.engine_config()),
        )
        # Faust makes a data folder even with the memory store; a temporary one keeps the
        # working directory clean (it is removed with this object or at interpreter exit).
        self._datadir = tempfile.TemporaryDirectory(prefix="edc-latency-faust-")
        self.app = faust_app(settings, self._datadir.name)
        self.inputs = self.app.topic(
            *settings.input_topics, value_serializer="raw", key_serializer="raw"
        )
        self.shard_topic = self.app.topic(
            settings.shard_topic,
            value_serializer="raw",
            key_serializer="raw",
            partitions=settings.shard_partitions,
        )
        self.deadletter = self.app.topic(
            settings.topic_deadletter, value_serializer="raw", key_serializer="raw"
        )
        self.app.agent(self.inputs, name="router")(self._router)
        self.app.agent(self.shard_topic, name="shards")(self._shards)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_before_shutdown.connect(self._on_shutdown)
        self.checkpoints = CheckpointWriter(
            self.store, self.client_options, settings.compression_type, settings.session_timeout
        )
        self.app.timer(settings.checkpoint_interval)(self.checkpoints.checkpoint)
        self.app.timer(min(PROGRESS_EVERY_S, settings.input_idle_after / 2))(self._send_progress)
        self.broker_watch = BrokerWatch(
            settings,
            self.client_options,
            self.readiness,
            self.stalls,
            self.health,
            self.last_offsets,
            lambda: self.app,
        )
        self.app.timer(min(BROKER_PROBE_EVERY_S, settings.broker_unreachable_after / 3))(
            self.broker_watch.probe
        )
        # And once at start: a timer first runs one interval after it, and until the first
        # answer /readyz says "broker not reached yet", though the shards may be restored and
        # events counted by then.
        self.app.task(self.broker_watch.probe)
        self.endpoint = Endpoint(
            settings, self.store, self.health, self.gate, self.readiness, self.stalls
        )
        self.app.task(self.endpoint.serve)

    def stop_fatally(self, error: EdcLatencyError) -> None:
        """Stop the process on what no retry can fix: one line naming the kind, its exit status.

        Called from inside the Kafka loop, where an exception would only end one task:
        the process ends here, with the status of the error's kind (agents/errors.py),
        and no traceback. Nothing is committed past the failure, so a restarted worker
        meets the same condition and says the same line, until an operator acts
        (docs/design.md).
        """
        self.readiness.fatal = error.line()
        log.critical("stopping: %s (exit status %d)", error.line(), error.exit_status)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(error.exit_status)

    # -- agents ---------------------------------------------------------------------

    async def _router(self, stream: faust.StreamT) -> None:
        # noack_take: Faust's take_events acks a batch even when its body raises, so an
        # offset could be committed past a message that never reached its destination.
        async for events in stream.noack_take(ROUTER_BATCH, within=ROUTER_WITHIN_S):
            await self.route_batch(events)
            for event in events:
                await stream.ack(event)

    async def _shards(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            await self.store.apply(event.message.partition, event.message.offset, event.value)

    # -- helpers --------------------------------------------------------------------

    async def route_batch(self, events: Sequence[faust.EventT]) -> None:
        """Route a batch and return once every send has succeeded (retrying failed ones)."""
        # The progress timer waits for a batch's sends: its marks then never reach a shard
        # before the events they cover (which could make those events late).
        async with self._routing:
            await self._route_batch(events)

    async def _route_batch(self, events: Sequence[faust.EventT]) -> None:
        messages = [event.message for event in events]
        routed = self.router.route(
            [(self._topic_index[m.topic], m.value) for m in messages],
            int(time.time() * 1e6),
            [_timestamp_ms(m) for m in messages],
            [m.partition for m in messages],
        )
        rejected = [(messages[index], reason) for index, reason in routed.dead_letters]
        over = set(routed.over_cardinality)
        self.note_progress(
            messages,
            [
                (messages[index], "over_cardinality" if index in over else "invalid")
                for index, _reason in routed.dead_letters
            ],
        )
        sends: list[Send] = [
            self._dead_letter_send(message, reason) for message, reason in rejected
        ]
        sends.extend(self._shard_send(shard, payload) for shard, payload in routed.shard_messages)
        await deliver(sends)

    def _shard_send(self, shard: int, payload: bytes) -> Send:
        return lambda: self.shard_topic.send(value=payload, partition=shard)

    def note_progress(self, messages: list[Message], rejected: list[tuple[Message, str]]) -> None:
        """Offsets and health of a routed batch; ``rejected``: dead-lettered, with their outcome."""
        latest: dict[tuple[str, int], Message] = {}
        newest: dict[str, Message] = {}
        for message in messages:
            latest[(message.topic, message.partition)] = newest[message.topic] = message
        # Once per partition or topic and batch, not per message: the last message wins anyway.
        for key, message in latest.items():
            self.last_offsets[key] = message.offset
        now = time.time()
        for topic, message in newest.items():
            self.health[topic].processing_delay_s = max(0.0, now - message.timestamp)
        for message, outcome in rejected:
            health = self.health[message.topic]
            health.count(outcome)
            health.dead_letters += 1

    def _dead_letter_send(self, message: Message, reason: str) -> Send:
        key, value, headers = dead_letter(message, reason, self.settings.max_message_bytes)
        return lambda: self.deadletter.send(key=key, value=value, headers=headers)

    async def _send_progress(self) -> None:
        """The router's inputs' progress to every shard; inputs silent too long go idle."""
        async with self._routing:  # after the batch in flight: see route_batch
            gone, messages = self.router.progress_round(int(time.time() * 1e6))
            if messages:
                await deliver([self._shard_send(s, payload) for s, payload in messages])
        topics = self.settings.input_topics
        for topic_index, partition, _newest, _idle in gone:
            self.health[topics[topic_index]].idle_partitions += 1
            log.warning(
                "input %s[%d] idle (no message for %.0fs): it no longer holds the retention "
                "horizon back",
                topics[topic_index],
                partition,
                self.settings.input_idle_after,
            )

    async def _on_assigned(self, sender: Any, assigned: set[TopicPartition], **_: Any) -> None:
        inputs = {
            (self._topic_index[tp.topic], tp.partition)
            for tp in assigned
            if tp.topic in self._topic_index
        }
        self.router.progress.assigned(
            inputs, int(time.time() * 1e6), await self._input_partition_counts()
        )
        mine = {tp.partition for tp in assigned if tp.topic == self.settings.shard_topic}
        # Faust's assigned set is the full new assignment: drop what is no longer ours.
        self.store.revoke(set(self.store.shards) - mine)
        self.store.assign(mine)

    async def _input_partition_counts(self) -> list[int] | None:
        """How many partitions each input topic has (for the shards' low watermark)."""
        client = AIOKafkaClient(**self.client_options)

        async def read() -> list[int]:
            await client.bootstrap()
            cluster = await client.fetch_all_metadata()
            return [len(cluster.partitions_for_topic(t) or ()) for t in self.settings.input_topics]

        try:
            # Within the rebalance: bounded well below the time the group allows it.
            return await asyncio.wait_for(read(), self.settings.session_timeout / 4)
        except Exception as error:  # the shards then know only the partitions reported
            log.warning("input partition counts not read (%s)", type(error).__name__)
            return None
        finally:
            await client.close()

    async def _on_revoked(self, sender: Any, revoked: set[TopicPartition], **_: Any) -> None:
        gone = {tp.partition for tp in revoked if tp.topic == self.settings.shard_topic}
        if gone:
            # The next owner restores from this instead of re-reading the shard topic.
            await self.checkpoints.final(f"handing over shards {sorted(gone)}")
        self.store.revoke(gone)

    async def _on_shutdown(self, sender: Any, **_: Any) -> None:
        await self.checkpoints.final("stopping")
        await self.checkpoints.close()


def _timestamp_ms(message: Message) -> int | None:
    """The Kafka timestamp the broker gave (LogAppendTime or CreateTime), back in ms.

    Faust keeps it as float seconds; ms / 1000 round-trips exactly at today's magnitudes.
    """
    stamp = message.timestamp
    return None if stamp is None else round(stamp * 1000)
