"""The Faust app: a router agent over the input topics and a shard agent over the shard topic.

router: validate each input message (agents/live/routing.py), send invalid ones to the
        dead-letter topic (original bytes, cut to max_message_bytes, source
        topic/partition/offset and the reason in headers), and forward valid ones,
        batched per shard and cut by bytes, to the internal shard topic. A batch's
        input offsets are acknowledged only once every one of its sends has
        succeeded: a failed send is retried, never dropped.
shards: apply each batch to the engine of its shard partition (agents/live/shards.py).

The agent bodies stay short; the work is in named helpers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import faust
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.client import AIOKafkaClient
from faust.types.tuples import Message

from agents.errors import EdcLatencyError
from agents.kafka.codecs import name_undecodable_batches
from agents.live.fetch_wait import lower_worker_fetch_wait
from agents.live.group_leave import leave_group_in_any_generation
from agents.live.lag import lag_by_topic
from agents.live.probes import probe_routes
from agents.live.readiness import Readiness
from agents.live.routing import Router
from agents.live.shards import ShardStore
from agents.live.stalls import StallWatch
from agents.metrics.cardinality import CardinalityGate
from agents.metrics.collector import EngineCollector
from agents.metrics.health import TopicHealth
from agents.metrics.http import ExpositionCache, MetricsServer, metrics_route
from agents.settings import Settings
from streams.stages import stage_problem

log = logging.getLogger(__name__)

ROUTER_BATCH = 2000  # per-batch costs (one produce request, one shard message per shard) amortised
ROUTER_WITHIN_S = 0.05  # a publish waits at most this long before it is forwarded
# Faust hard-codes a 1.5 s fetch wait; a broker that holds fetches for the full wait
# (the embedded one does) then delays every hop by up to 1.5 s. Two hops separate a
# publish from its metric, and the freshness target is 1 s at p99.
FETCH_MAX_WAIT_MS = 100
SEND_RETRY_MAX_S = 5.0  # a failed send is retried with backoff up to this pause
PROGRESS_EVERY_S = 5.0  # every shard hears of every input at least this often (progress.py)


def lower_fetch_wait() -> None:
    lower_worker_fetch_wait(FETCH_MAX_WAIT_MS)


def _credentials(settings: Settings) -> Any:
    if settings.sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password_value,
            mechanism=settings.sasl_mechanism,
            ssl_context=settings.kafka_client_options().get("ssl_context"),
        )
    if settings.security_protocol == "SSL":
        return faust.SSLCredentials(settings.kafka_client_options()["ssl_context"])
    return None


class LiveApp:
    """Everything one worker process holds: the Faust app, its shard engines, its metrics."""

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
        self.app = faust.App(
            settings.app_id,
            datadir=self._datadir.name,
            broker=[
                f"kafka://{server}" for server in (settings.bootstrap_servers or "").split(",")
            ],
            broker_credentials=_credentials(settings),
            store="memory://",
            web_enabled=False,
            topic_partitions=settings.shard_partitions,
            topic_allow_declare=False,
            consumer_auto_offset_reset="earliest",
            producer_linger_ms=5,
            producer_max_request_size=settings.producer_max_request_size,
            producer_compression_type=settings.compression_type,
            broker_commit_interval=1.0,
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=max(1.0, settings.session_timeout / 4),
            broker_rebalance_timeout=2 * settings.session_timeout,
        )
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
        self.app.timer(settings.checkpoint_interval)(self._checkpoint)
        self.app.timer(min(PROGRESS_EVERY_S, settings.input_idle_after / 2))(self._send_progress)
        self.app.timer(min(5.0, settings.broker_unreachable_after / 3))(self._probe_broker)
        self.app.task(self._serve_metrics)
        self._producer: AIOKafkaProducer | None = None
        self.metrics_server: MetricsServer | None = None
        self._broker_silent_since: float | None = None

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
        sends: list[Callable[[], Awaitable[Any]]] = [
            self._dead_letter_send(message, reason) for message, reason in rejected
        ]
        sends.extend(self._shard_send(shard, payload) for shard, payload in routed.shard_messages)
        await self.deliver(sends)

    def _shard_send(self, shard: int, payload: bytes) -> Callable[[], Awaitable[Any]]:
        return lambda: self.shard_topic.send(value=payload, partition=shard)

    async def deliver(self, sends: list[Callable[[], Awaitable[Any]]]) -> None:
        """Run every send until each is acknowledged by the broker; failed ones are retried.

        The router's input offsets are acked only after this returns, so a worker
        stopped while retrying re-reads the batch (the shards drop repeats by event id).
        """
        pause = 0.1
        while sends:
            pending: list[Any] = []
            for send in sends:
                try:
                    pending.append(await send())
                except Exception as error:  # refused before it left (e.g. too large)
                    pending.append(error)
            results = await asyncio.gather(
                *(p for p in pending if not isinstance(p, Exception)), return_exceptions=True
            )
            outcomes = iter(results)
            failed = [
                (send, p if isinstance(p, Exception) else next(outcomes))
                for send, p in zip(sends, pending, strict=True)
            ]
            failed = [(send, r) for send, r in failed if isinstance(r, BaseException)]
            if not failed:
                return
            log.warning(
                "%d of %d sends failed (%s); retrying in %.1fs, their input stays uncommitted",
                len(failed),
                len(sends),
                " ".join(f"{type(failed[0][1]).__name__}: {failed[0][1]}".split())[:200],
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, SEND_RETRY_MAX_S)
            sends = [send for send, _error in failed]

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

    def _dead_letter_send(self, message: Message, reason: str) -> Callable[[], Awaitable[Any]]:
        # The reason names a field, never a value: safe to log and to put in a header.
        log.warning(
            "invalid message %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            reason,
        )
        value = message.value
        headers = [
            ("source_topic", message.topic.encode()),
            ("source_partition", str(message.partition).encode()),
            ("source_offset", str(message.offset).encode()),
            ("reason", reason.encode()),
        ]
        limit = self.settings.max_message_bytes
        if value is not None and len(value) > limit:
            # Kept whole it could never be sent; its source offset still finds the original.
            headers.append(("truncated_from_bytes", str(len(value)).encode()))
            value = value[:limit]
        key = f"{message.topic}:{message.partition}:{message.offset}".encode()
        return lambda: self.deadletter.send(key=key, value=value, headers=headers)

    async def _send_progress(self) -> None:
        """The router's inputs' progress to every shard; inputs silent too long go idle."""
        async with self._routing:  # after the batch in flight: see route_batch
            gone, messages = self.router.progress_round(int(time.time() * 1e6))
            if messages:
                await self.deliver([self._shard_send(s, payload) for s, payload in messages])
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
            await self._final_checkpoint(f"handing over shards {sorted(gone)}")
        self.store.revoke(gone)

    async def _on_shutdown(self, sender: Any, **_: Any) -> None:
        await self._final_checkpoint("stopping")

    async def _final_checkpoint(self, why: str) -> None:
        # Bounded: a broker that is gone must not hold up a rebalance or a stop past the
        # session timeout; the shard topic still has everything a checkpoint would save.
        try:
            written = await asyncio.wait_for(self._checkpoint(), self.settings.session_timeout / 2)
        except Exception as error:
            log.warning("%s: final checkpoint not written (%s)", why, type(error).__name__)
        else:
            log.warning("%s: final checkpoint of %d changed shard(s) written", why, written)

    async def _checkpoint(self) -> int:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                **self.client_options,
                max_request_size=1 << 20,
                compression_type=self.settings.compression_type,
            )
            await self._producer.start()
        written = await self.store.checkpoint(self._producer)
        if written:
            log.info("checkpointed %d shard(s)", written)
        return written

    async def _probe_broker(self) -> None:
        """Learn whether the broker answers (for /readyz), then measure the lag."""
        try:
            await asyncio.wait_for(self._bootstrap(), self.settings.broker_unreachable_after)
        except Exception as error:  # an unreachable broker is a state to report, not a crash
            self.readiness.broker_failed(error)
            if self._broker_silent_since is None:  # once per outage, not every probe
                self._broker_silent_since = time.monotonic()
                log.warning(
                    "broker not answering (%s): not ready; processing resumes when it answers",
                    type(error).__name__,
                )
            return
        self.readiness.broker_answered()
        if self._broker_silent_since is not None:
            log.warning(
                "broker answering again after %.0fs", time.monotonic() - self._broker_silent_since
            )
            self._broker_silent_since = None
        try:
            await asyncio.wait_for(self._measure_lag(), self.settings.broker_unreachable_after)
        except Exception as error:
            log.warning("consumer lag not measured: %s", type(error).__name__)

    async def _bootstrap(self) -> None:
        # A bare client: a consumer stopped before any assignment raises CancelledError
        # in aiokafka 0.14, which would end this timer for good.
        client = AIOKafkaClient(**self.client_options)
        try:
            await client.bootstrap()
        finally:
            await client.close()

    async def _measure_lag(self) -> None:
        consumer = self.app.consumer
        assigned = consumer.assignment()
        self._watch_stalls(assigned)
        if not self.last_offsets:
            return
        # The marks the app's consumer got with its last fetches: no request, no new client.
        lag = lag_by_topic(
            self.settings.input_topics,
            self.last_offsets,
            assigned,
            lambda topic, partition: consumer.highwater(TopicPartition(topic, partition)),
        )
        for topic, value in lag.items():
            self.health[topic].lag = value

    def _watch_stalls(self, assigned: set[TopicPartition]) -> None:
        """Which assigned input partitions are stuck (agents/live/stalls.py), for /readyz and metrics."""
        inputs = self.settings.input_topics
        # Faust's monitor keeps both, keyed by TP (a named tuple: equal to (topic, partition)).
        monitor = self.app.monitor
        before = self.stalls.stuck
        stuck = self.stalls.observe(
            [(tp.topic, tp.partition) for tp in assigned if tp.topic in inputs],
            dict(monitor.tp_committed_offsets),
            dict(monitor.tp_read_offsets),
        )
        for topic, count in self.stalls.stuck_by_topic(inputs).items():
            self.health[topic].stuck_partitions = count
        if stuck != before and stuck:
            log.warning(
                "input partitions stuck for %gs or more (committed offset not moving): %s",
                self.settings.partition_stall_after,
                ", ".join(f"{topic}[{partition}]" for topic, partition in stuck),
            )

    # -- metrics endpoint -----------------------------------------------------------

    def clock_us(self) -> int:
        wall_us = int(time.time() * 1_000_000)
        if self.settings.clock == "event":
            marks = [e.watermark_us for e in self.store.engines() if e.watermark_us is not None]
            if marks:
                # Every event was judged against the wall clock when it came (schemas/limits.py):
                # this min only guards state restored from before that rule.
                skew_us = round((self.settings.max_future_skew or 0.0) * 1_000_000)
                return min(max(marks), wall_us + skew_us)
        return wall_us

    def collector(self) -> EngineCollector:
        return EngineCollector(
            self.store.engines,
            self.health,
            self.clock_us,
            self.settings.breakdown,
            self.gate,
            self.store.checkpoint_health,
            self.settings.publish_stall_after_s,
            lambda: self.readiness.ready(self.store.unrestored())[0],
            self.settings.shard_partitions,
            self.settings.certain_breach_page_min_of,
            stale_after_s=self.settings.data_stale_after_s,
        )

    async def _serve_metrics(self) -> None:
        settings = self.settings
        cache = ExpositionCache(
            self.collector(), asyncio.get_running_loop(), settings.metrics_refresh_interval
        )
        probes = probe_routes(
            self.readiness,
            lambda: list(self.store.shards),  # a copy: read from the server's thread
            self.store.unrestored,
            self.stalls,
            cache,
        )
        self.metrics_server = MetricsServer(
            settings.metrics_host,
            settings.metrics_port,
            {"/metrics": metrics_route(cache), **probes},
            settings.http_header_timeout,
            settings.http_max_connections,
        )
        self.metrics_server.start()
        log.warning("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)


def _timestamp_ms(message: Message) -> int | None:
    """The Kafka timestamp the broker gave (LogAppendTime or CreateTime), back in ms.

    Faust keeps it as float seconds; ms / 1000 round-trips exactly at today's magnitudes.
    """
    stamp = message.timestamp
    return None if stamp is None else round(stamp * 1000)
