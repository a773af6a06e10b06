"""Per-scrape cost of /metrics: 50 studies × 20 sites with the site breakdown on.

The figures are gathered on the worker's Kafka loop (``collect_ms``: the time
that loop is busy per refresh); the families are built and rendered by
prometheus_client off that loop (``render_ms``). The floor is ``generate_latest`` over a registry holding
the same number of plain gauge samples: what the library costs for the text alone.
``http_scrape_ms`` and ``http_scrape_gzip_ms`` are one whole scrape through the worker's
HTTP server (a fresh collection, rendering, the transfer), as Prometheus sees it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import generate_latest

from agents.harness.broker import free_port
from agents.metrics.cardinality import CardinalityGate
from agents.metrics.collector import EngineCollector
from agents.metrics.health import TopicHealth
from agents.metrics.http import ExpositionCache, MetricsServer, _Families, metrics_route
from schemas import EntryEvent, PublishEvent, QueryEvent
from streams import Engine, EngineConfig

BASE_US = 1_767_225_600_000_000
HOUR_US = 3_600_000_000


def engine_50x20(studies: int = 50, sites: int = 20) -> Engine:
    from agents.metrics.definitions import LATENCY_BUCKETS_S, QUERY_BUCKETS_S

    engine = Engine(
        EngineConfig(
            breakdown=("site",),
            latency_bounds_s=LATENCY_BUCKETS_S,
            query_bounds_s=QUERY_BUCKETS_S,
        )
    )
    n = 0
    for s in range(studies):
        study = f"S{s:02d}"
        for site in range(sites):
            for r in range(5):
                n += 1
                engine.apply(EntryEvent(
                    event_id=f"e{n}", study_id=study,
                    site_id=f"site-{site}", subject_id="", form_id="f", record_id=f"r{n}",
                    entered_at=BASE_US + n * 1000, country="DE", vendor=None, action="create",
                    visit_date=None,
                ))  # fmt: skip
                if r == 0:
                    engine.apply(QueryEvent(
                        event_id=f"q{n}", query_id=f"q{n}",
                        study_id=study, site_id=f"site-{site}", status="opened",
                        occurred_at=BASE_US + n * 1000, record_id=None, form_id=None,
                        country="DE", vendor=None, origin=None,
                    ))  # fmt: skip
        engine.apply(PublishEvent(
            event_id=f"p{s}", study_id=study,
            published_at=BASE_US + HOUR_US, record_ids=[f"r{n}"], data_cutoff=None,
            dashboard="default",
        ))  # fmt: skip
    return engine


def _best_ms(run, rounds: int = 7) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return round(best * 1000, 2)


def per_scrape_cost() -> dict[str, float]:
    engine = engine_50x20()
    health = {t: TopicHealth() for t in ("a", "b", "c")}
    gate = CardinalityGate((), 200, 500)
    collector = EngineCollector(
        lambda: [engine], health, lambda: BASE_US + 2 * HOUR_US, ("site",), gate
    )
    samples = sum(len(f.samples) for f in collector.collect())
    builder = collector.gather()
    collect_ms = _best_ms(collector.gather)
    render_ms = _best_ms(lambda: generate_latest(_Families(builder())))
    floor_registry = CollectorRegistry()
    gauge = Gauge("floor", "floor", ["a", "b", "c"], registry=floor_registry)
    for i in range(samples):
        gauge.labels(str(i), "x", "y").set(i)
    floor_ms = _best_ms(lambda: generate_latest(floor_registry))
    return {
        "series": samples,
        "collect_ms": collect_ms,
        "render_ms": render_ms,
        "per_scrape_ms": round(collect_ms + render_ms, 2),
        "target_ms": 50.0,
        "floor_render_same_series_ms": floor_ms,
    }


def http_scrape_cost(rounds: int = 3) -> dict[str, float]:
    """Best of ``rounds`` whole scrapes over HTTP, each with a fresh collection."""
    engine = engine_50x20()
    health = {t: TopicHealth() for t in ("a", "b", "c")}
    collector = EngineCollector(
        lambda: [engine], health, lambda: BASE_US + 2 * HOUR_US, ("site",),
        CardinalityGate((), 200, 500),
    )  # fmt: skip

    async def run() -> dict[str, float]:
        # This loop stands for the worker's Kafka loop: collections run on it.
        cache = ExpositionCache(collector, asyncio.get_running_loop(), max_age_s=0.0)
        server = MetricsServer(
            "127.0.0.1", free_port(), {"/metrics": metrics_route(cache)}, 5.0, 256
        )
        server.start()
        url = f"http://127.0.0.1:{server.port}/metrics"

        def get(headers: dict[str, str]) -> int:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
                return len(answer.read())

        async def best_ms(headers: dict[str, str]) -> float:
            best = float("inf")
            for _ in range(rounds):
                started = time.perf_counter()
                await asyncio.to_thread(get, headers)
                best = min(best, time.perf_counter() - started)
            return round(best * 1000, 2)

        try:
            return {
                "http_scrape_ms": await best_ms({}),
                "http_scrape_gzip_ms": await best_ms({"Accept-Encoding": "gzip"}),
            }
        finally:
            server.stop()

    return asyncio.run(run())


if __name__ == "__main__":
    print(per_scrape_cost())
    print(http_scrape_cost())
