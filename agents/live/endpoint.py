"""A worker's HTTP endpoint: /metrics from its shard engines, and the probes' answers."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from agents.live.probes import probe_routes
from agents.live.readiness import Readiness
from agents.live.shard_engines import ShardStore
from agents.live.stalls import StallWatch
from agents.live.tunables import METRICS_COLLECT_LOOP_SHARE
from agents.metrics.cardinality import CardinalityGate
from agents.metrics.collector import EngineCollector
from agents.metrics.health import TopicHealth
from agents.metrics.http import ExpositionCache, MetricsServer, metrics_route
from agents.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Endpoint:
    settings: Settings
    store: ShardStore
    health: dict[str, TopicHealth]
    gate: CardinalityGate
    readiness: Readiness
    stalls: StallWatch
    server: MetricsServer | None = None

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
            visit_thresholds_s=(
                self.settings.visit_to_entry_medium,
                self.settings.visit_to_entry_high,
            ),
        )

    async def serve(self) -> None:
        settings = self.settings
        cache = ExpositionCache(
            self.collector(),
            asyncio.get_running_loop(),
            settings.metrics_refresh_interval,
            METRICS_COLLECT_LOOP_SHARE,
        )
        probes = probe_routes(
            self.readiness,
            lambda: list(self.store.shards),  # a copy: read from the server's thread
            self.store.unrestored,
            self.stalls,
            cache,
        )
        self.server = MetricsServer(
            settings.metrics_host,
            settings.metrics_port,
            {"/metrics": metrics_route(cache), **probes},
            settings.http_header_timeout,
            settings.http_max_connections,
        )
        self.server.start()
        log.warning("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
