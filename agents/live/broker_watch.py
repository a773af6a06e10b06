"""What a worker watches of the brokers between messages: do they answer (for /readyz),
the consumer lag per input topic, and input partitions that are stuck."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient

from agents.live.lag import lag_by_topic
from agents.live.readiness import Readiness
from agents.live.stalls import StallWatch
from agents.metrics.health import TopicHealth
from agents.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BrokerWatch:
    """The timer's probe (``probe``), and the stuck-partition watch it runs."""

    settings: Settings
    client_options: dict[str, Any]
    readiness: Readiness
    stalls: StallWatch
    health: dict[str, TopicHealth]
    last_offsets: dict[tuple[str, int], int]
    app: Callable[[], Any]  # the Faust app (its consumer and monitor)
    _silent_since: float | None = None  # when the broker stopped answering

    async def probe(self) -> None:
        """Learn whether the broker answers (for /readyz), then measure the lag."""
        settings = self.settings
        try:
            await asyncio.wait_for(self._bootstrap(), settings.broker_unreachable_after)
        except Exception as error:  # an unreachable broker is a state to report, not a crash
            self.readiness.broker_failed(error)
            if self._silent_since is None:  # once per outage, not every probe
                self._silent_since = time.monotonic()
                log.warning(
                    "broker not answering (%s): not ready; processing resumes when it answers",
                    type(error).__name__,
                )
            return
        self.readiness.broker_answered()
        if self._silent_since is not None:
            log.warning(
                "broker answering again after %.0fs", time.monotonic() - self._silent_since
            )
            self._silent_since = None
        try:
            await asyncio.wait_for(self._measure_lag(), settings.broker_unreachable_after)
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
        consumer = self.app().consumer
        assigned = consumer.assignment()
        self.watch_stalls(assigned)
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

    def watch_stalls(self, assigned: set[TopicPartition]) -> None:
        """Which assigned input partitions are stuck (agents/live/stalls.py), for /readyz and metrics."""
        inputs = self.settings.input_topics
        # Faust's monitor keeps both, keyed by TP (a named tuple: equal to (topic, partition)).
        monitor = self.app().monitor
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
