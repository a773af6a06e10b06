"""The Faust app: a router agent over the input topics and a shard agent over the shard topic.

router: validate each input message, send invalid ones to the dead-letter topic
        (original bytes, source topic/partition/offset and the reason in headers),
        and forward valid ones, batched per shard, to the internal shard topic.
shards: apply each batch to the engine of its shard partition (agents/shards.py).

The agent bodies stay short; the work is in named helpers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types.tuples import Message
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agents.exporter import EngineCollector, TopicHealth, render_text
from agents.settings import Settings
from agents.sharding import encode_batch, routed_items
from agents.shards import ShardStore
from schemas import Rejection, parse_event

log = logging.getLogger(__name__)

ROUTER_BATCH = 2000  # per-batch costs (one produce request, one shard message per shard) amortised
ROUTER_WITHIN_S = 0.05  # a publish waits at most this long before it is forwarded
# Faust hard-codes a 1.5 s fetch wait; a broker that holds fetches for the full wait
# (the embedded one does) then delays every hop by up to 1.5 s. Two hops separate a
# publish from its metric, and the freshness target is 1 s at p99.
FETCH_MAX_WAIT_MS = 100
BROKER_PROBE_S = 4.0  # the lag look-up, every 5 s, doubles as the broker's liveness probe


def lower_fetch_wait() -> None:
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "_edc_latency", False):
        return

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    create_worker_consumer._edc_latency = True  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer


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


class Worker:
    """Everything one worker process holds: the Faust app, its shard engines, its metrics."""

    def __init__(self, settings: Settings) -> None:
        lower_fetch_wait()
        self.settings = settings
        self.health = {topic: TopicHealth() for topic in settings.input_topics}
        self.client_options = settings.kafka_client_options()
        self.store = ShardStore(
            settings.engine_config(),
            self.client_options,
            settings.shard_topic,
            settings.checkpoint_topic,
            settings.input_topics,
            self.health,
            settings.app_id,
        )
        self.last_offsets: dict[tuple[str, int], int] = {}
        self._topic_index = {topic: i for i, topic in enumerate(settings.input_topics)}
        self.app = faust.App(
            settings.app_id,
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
        self.app.timer(5.0)(self._measure_lag)
        self.app.task(self._serve_metrics)
        self._producer: AIOKafkaProducer | None = None
        self._broker_silent_since: float | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- agents ---------------------------------------------------------------------

    async def _router(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(ROUTER_BATCH, within=ROUTER_WITHIN_S):
            await self.route_batch(events)

    async def _shards(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            await self.store.apply(event.message.partition, event.message.offset, event.value)

    # -- helpers --------------------------------------------------------------------

    async def route_batch(self, events: Sequence[faust.EventT]) -> None:
        batches, rejected = self.split_batch(events)
        pending = [await self.send_dead_letter(message, reason) for message, reason in rejected]
        for shard, items in enumerate(batches):
            if items:
                pending.append(
                    await self.shard_topic.send(value=encode_batch(items), partition=shard)
                )
        # Offsets are committed only after the forwarded batches are acknowledged.
        await asyncio.gather(*pending)

    def split_batch(
        self, events: Sequence[faust.EventT]
    ) -> tuple[list[list[list[object]]], list[tuple[Message, str]]]:
        """Wire items per shard, and the rejected messages with their reasons."""
        shards = self.settings.shard_partitions
        topic_index = self._topic_index
        batches: list[list[list[object]]] = [[] for _ in range(shards)]
        rejected: list[tuple[Message, str]] = []
        latest: dict[tuple[str, int], Message] = {}
        newest: dict[str, Message] = {}
        for event in events:
            message = event.message
            latest[(message.topic, message.partition)] = newest[message.topic] = message
            parsed = parse_event(event.value)
            if isinstance(parsed, Rejection):
                rejected.append((message, parsed.reason))
                continue
            # A publish may be split or copied to several shards; only its first part is
            # counted in the health metrics, so each input message counts once.
            for shard, item in routed_items(parsed, topic_index[message.topic], shards):
                batches[shard].append(item)
        self.note_progress(latest, newest, rejected)
        return batches, rejected

    def note_progress(
        self,
        latest: dict[tuple[str, int], Message],
        newest: dict[str, Message],
        rejected: list[tuple[Message, str]],
    ) -> None:
        # Once per partition or topic and batch, not per message: the last message wins anyway.
        for key, message in latest.items():
            self.last_offsets[key] = message.offset
        now = time.time()
        for topic, message in newest.items():
            self.health[topic].processing_delay_s = max(0.0, now - message.timestamp)
        for message, _reason in rejected:
            health = self.health[message.topic]
            health.count("invalid")
            health.dead_letters += 1

    async def send_dead_letter(self, message: Message, reason: str) -> Any:
        # The reason names a field, never a value: safe to log and to put in a header.
        log.warning(
            "invalid message %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            reason,
        )
        return await self.deadletter.send(
            key=f"{message.topic}:{message.partition}:{message.offset}".encode(),
            value=message.value,
            headers=[
                ("source_topic", message.topic.encode()),
                ("source_partition", str(message.partition).encode()),
                ("source_offset", str(message.offset).encode()),
                ("reason", reason.encode()),
            ],
        )

    async def _on_assigned(self, sender: Any, assigned: set[TopicPartition], **_: Any) -> None:
        mine = {tp.partition for tp in assigned if tp.topic == self.settings.shard_topic}
        # Faust's assigned set is the full new assignment: drop what is no longer ours.
        self.store.revoke(set(self.store.shards) - mine)
        self.store.assign(mine)

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
            self._producer = AIOKafkaProducer(**self.client_options, max_request_size=1 << 20)
            await self._producer.start()
        written = await self.store.checkpoint(self._producer)
        if written:
            log.info("checkpointed %d shard(s)", written)
        return written

    async def _measure_lag(self) -> None:
        owned = list(self.last_offsets)
        if not owned:
            return
        tps = [TopicPartition(t, p) for t, p in owned]
        try:
            # Bounded: this is also how the log learns that the broker stopped answering.
            ends = await asyncio.wait_for(self._end_offsets(tps), BROKER_PROBE_S)
        except Exception as error:
            if self._broker_silent_since is None:
                self._broker_silent_since = time.monotonic()
                log.warning(
                    "broker not answering (%s): lag unknown; processing resumes when it answers",
                    type(error).__name__,
                )
            return
        if self._broker_silent_since is not None:
            log.warning(
                "broker answering again after %.0fs",
                time.monotonic() - self._broker_silent_since,
            )
            self._broker_silent_since = None
        lag = dict.fromkeys(self.settings.input_topics, 0)
        for tp in tps:
            # Clamped: the embedded broker can under-report end offsets (agents/broker.py).
            lag[tp.topic] += max(0, ends[tp] - self.last_offsets[(tp.topic, tp.partition)] - 1)
        for topic, value in lag.items():
            self.health[topic].lag = value

    async def _end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(**self.client_options, group_id=None)
        try:
            await consumer.start()
            return await consumer.end_offsets(tps)
        finally:
            # Not awaited here: when the broker is silent, stopping waits for it too.
            task = asyncio.get_running_loop().create_task(consumer.stop())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # -- metrics endpoint -----------------------------------------------------------

    def clock_us(self) -> int:
        if self.settings.clock == "event":
            marks = [e.watermark_us for e in self.store.engines() if e.watermark_us is not None]
            if marks:
                return max(marks)
        return int(time.time() * 1_000_000)

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            EngineCollector(self.store.engines, self.health, self.clock_us, self.settings.breakdown)
        )
        return registry

    async def _serve_metrics(self) -> None:
        registry = self.registry()

        async def metrics(_request: web.Request) -> web.Response:
            # Collected on the event loop: the engines never change mid-scrape.
            body = render_text(registry.collect())
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def health(_request: web.Request) -> web.Response:
            return web.json_response({"shards": sorted(self.store.shards)})

        server = web.Application()
        server.router.add_get("/metrics", metrics)
        server.router.add_get("/healthz", health)
        runner = web.AppRunner(server, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.metrics_host, self.settings.metrics_port)
        await site.start()
        log.warning(
            "metrics on http://%s:%d/metrics",
            self.settings.metrics_host,
            self.settings.metrics_port,
        )
