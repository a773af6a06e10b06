"""The metrics endpoint under hostile load: 200 concurrent scrapes, half-sent requests, a flood."""

from __future__ import annotations

import asyncio
import gzip
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus_text

from agents.harness.broker import free_port
from agents.metrics.cardinality import CardinalityGate
from agents.metrics.collector import EngineCollector
from agents.metrics.health import TopicHealth
from agents.metrics.http import ExpositionCache, MetricsServer, Response, metrics_route
from bench.scrape import BASE_US, HOUR_US, engine_50x20


async def _get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def _server(
    cap: int = 256, header_timeout_s: float = 0.5, max_age_s: float = 0.25
) -> tuple[MetricsServer, ExpositionCache]:
    engine = engine_50x20(studies=20, sites=10)
    health = {t: TopicHealth() for t in ("entries", "queries", "publishes")}
    collector = EngineCollector(
        lambda: [engine], health, lambda: BASE_US + 2 * HOUR_US, ("site",),
        CardinalityGate((), 200, 500),
    )  # fmt: skip
    cache = ExpositionCache(collector, asyncio.get_running_loop(), max_age_s=max_age_s)

    async def healthz() -> Response:
        return Response("200 OK", "application/json", b'{"shards": [0]}')

    routes = {"/metrics": metrics_route(cache), "/healthz": healthz}
    server = MetricsServer("127.0.0.1", free_port(), routes, header_timeout_s, cap)
    server.start()
    return server, cache


async def test_healthz_answers_while_200_scrapes_run_and_they_share_collections():
    server, cache = _server()
    try:
        scrapes = [asyncio.ensure_future(_get(server.port, "/metrics")) for _ in range(200)]
        health = await asyncio.wait_for(
            asyncio.gather(*(_get(server.port, "/healthz") for _ in range(20))), 30
        )
        assert all(h.startswith(b"HTTP/1.1 200") and h.endswith(b'{"shards": [0]}') for h in health)
        bodies = await asyncio.wait_for(asyncio.gather(*scrapes), 120)
        assert all(b.startswith(b"HTTP/1.1 200") for b in bodies)
        assert b'edc_backlog_entries{dashboard="default",site="site-3",study="S07"}' in bodies[0]
        assert cache.collections < 200  # one collection serves every scrape in its window
    finally:
        server.stop()


async def test_half_sent_requests_are_closed_and_a_flood_is_capped():
    server, _cache = _server(cap=20, header_timeout_s=0.5)
    try:
        slow = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(20)]
        for _reader, writer in slow:
            writer.write(b"GET /metrics HTTP/1.1\r\nHost:")  # never finished
            await writer.drain()
        await asyncio.sleep(0.1)
        reader, _writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # over the cap: closed at once
        for reader, _writer in slow:  # the header timeout closes each one
            assert await asyncio.wait_for(reader.read(), 10) == b""
        assert (await _get(server.port, "/healthz")).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()


def _samples(families) -> dict[tuple[str, tuple], float]:  # type: ignore[no-untyped-def]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


async def test_openmetrics_and_gzip_are_negotiated_and_agree_with_the_text_format():
    server, cache = _server(max_age_s=3600)  # both answers from one collection
    url = f"http://127.0.0.1:{server.port}/metrics"

    def get(headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return dict(answer.headers), answer.read()

    try:
        om_headers, om_body = await asyncio.to_thread(
            get,
            {
                "Accept": "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.3",
                "Accept-Encoding": "gzip",
            },
        )
        text_headers, text_body = await asyncio.to_thread(get, {})
    finally:
        server.stop()
    assert om_headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert om_headers["Content-Encoding"] == "gzip"
    om_text = gzip.decompress(om_body).decode()
    assert om_text.endswith("# EOF\n")
    assert text_headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in text_headers
    from_openmetrics = _samples(openmetrics(om_text))
    from_text = _samples(prometheus_text(text_body.decode()))
    assert from_openmetrics == from_text
    labels = (("dashboard", "default"), ("site", "site-3"), ("study", "S07"))
    assert from_text[("edc_backlog_entries", labels)] > 0
    assert cache.collections == 1
