"""The metrics endpoint under hostile load: 200 concurrent scrapes, half-sent requests, a flood."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import time
import urllib.request
from collections.abc import Callable

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus_text

from agents.harness.broker import free_port
from agents.harness.waiting import wait_for_async
from agents.live.probes import probe_routes
from agents.live.readiness import Readiness
from agents.live.stalls import StallWatch
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

    async def readyz() -> Response:
        return Response("503 Service Unavailable", "application/json", b'{"ready": false}')

    routes = {"/metrics": metrics_route(cache), "/healthz": healthz, "/readyz": readyz}
    server = MetricsServer("127.0.0.1", free_port(), routes, header_timeout_s, cap)
    server.start()
    return server, cache


async def test_healthz_answers_while_200_scrapes_run_and_they_share_collections():
    # Not a test of the timeout: 200 clients reading large answers on a loaded machine may
    # take longer than the default test timeout to take theirs, and would be closed.
    server, cache = _server(header_timeout_s=60)
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


async def test_half_sent_requests_are_closed_and_at_the_cap_the_oldest_waiting_one_gives_way():
    server, _cache = _server(cap=20, header_timeout_s=0.5)
    try:
        slow = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(20)]
        for _reader, writer in slow:
            writer.write(b"GET /metrics HTTP/1.1\r\nHost:")  # never finished
            await writer.drain()
        # Counted as they are accepted: waited for, not slept on (the header timeout, 0.5 s,
        # closes them next).
        assert await _until(lambda: server.open_connections == 20, 0.4)
        # One more at the cap: the oldest half-sent one is closed at once, this one served.
        assert (await _get(server.port, "/healthz")).startswith(b"HTTP/1.1 200")
        assert await asyncio.wait_for(slow[0][0].read(), 5) == b""
        for reader, _writer in slow[1:]:  # the header timeout closes each other one
            assert await asyncio.wait_for(reader.read(), 10) == b""
        assert await _until(lambda: server.open_connections == 0, 5)
    finally:
        server.stop()


async def _until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Whether ``condition`` held within ``timeout_s``, checked every few ms."""
    return await wait_for_async(condition, timeout_s, every_max_s=0.005)


def _probe(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request, as a kubelet probe sends it: a fresh connection, a 5 s socket timeout."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


async def test_probes_answer_while_idle_clients_hold_the_cap_and_renew_their_connections():
    server, _cache = _server(cap=64, header_timeout_s=5.0)
    stop = asyncio.Event()
    idle: list[asyncio.StreamWriter] = []

    async def hold_the_cap() -> None:
        # The probe's attacker: the cap's worth of connections that send nothing, each
        # one reopened as soon as it is closed.
        while not stop.is_set():
            while len(idle) < 64 and not stop.is_set():
                _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                idle.append(writer)
            await asyncio.sleep(0.01)
            idle[:] = [w for w in idle if not w.is_closing() and not w.transport.is_closing()]

    holder = asyncio.ensure_future(hold_the_cap())
    try:
        while server.open_connections < 64:
            await asyncio.sleep(0.01)
        answers = [
            await asyncio.to_thread(_probe, server.port, path)
            for _ in range(15)
            for path in ("/healthz", "/readyz")
        ]
    finally:
        stop.set()
        await holder
        for writer in idle:
            writer.close()
        server.stop()
    assert [status for status, _headers, _body in answers] == [200, 503] * 15
    assert all(body.startswith(b'{"') for _status, _headers, body in answers)


async def test_head_gets_the_headers_and_no_body():
    server, _cache = _server()
    try:
        get = await asyncio.to_thread(_probe, server.port, "/healthz")
        head = await asyncio.to_thread(_probe, server.port, "/healthz", "HEAD")
        metrics_head = await asyncio.to_thread(_probe, server.port, "/metrics", "HEAD")
        post = await asyncio.to_thread(_probe, server.port, "/metrics", "POST")
        missing = await asyncio.to_thread(_probe, server.port, "/nowhere")
    finally:
        server.stop()
    assert get[0] == head[0] == 200 and get[2]
    assert head[2] == b"" and head[1]["Content-Length"] == str(len(get[2]))
    assert metrics_head[0] == 200 and metrics_head[2] == b""
    assert int(metrics_head[1]["Content-Length"]) > 100_000
    assert (post[0], missing[0]) == (405, 404)


async def test_the_body_is_what_generate_latest_writes_for_the_same_collector():
    server, cache = _server(max_age_s=3600)
    collector = cache._collector
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        status, headers, body = await asyncio.to_thread(_probe, server.port, "/metrics")
    finally:
        server.stop()
    assert status == 200
    assert headers["Content-Type"] == choose_encoder("")[1]
    assert body == generate_latest(registry)


async def test_healthz_fails_while_the_metrics_cannot_be_collected():
    engine = engine_50x20(studies=2, sites=2)
    broken = {"now": False}

    def clock_us() -> int:
        if broken["now"]:
            raise TypeError("a field of the wrong type")
        return BASE_US + 2 * HOUR_US

    collector = EngineCollector(lambda: [engine], {}, clock_us, ("site",))
    cache = ExpositionCache(collector, asyncio.get_running_loop(), max_age_s=0.0)
    readiness = Readiness(30.0)
    readiness.broker_answered()
    routes = {
        "/metrics": metrics_route(cache),
        **probe_routes(readiness, lambda: [0], lambda: [], StallWatch(60.0), cache),
    }
    server = MetricsServer("127.0.0.1", free_port(), routes, 5.0, 16)
    server.start()
    try:
        assert (await asyncio.to_thread(_probe, server.port, "/metrics"))[0] == 200
        assert (await asyncio.to_thread(_probe, server.port, "/healthz"))[0] == 200
        broken["now"] = True
        assert (await asyncio.to_thread(_probe, server.port, "/metrics"))[0] == 500
        status, _headers, body = await asyncio.to_thread(_probe, server.port, "/healthz")
        assert status == 503
        assert orjson.loads(body)["reasons"] == ["collecting the metrics failed (TypeError)"]
        broken["now"] = False
        assert (await asyncio.to_thread(_probe, server.port, "/metrics"))[0] == 200
        assert (await asyncio.to_thread(_probe, server.port, "/healthz"))[0] == 200
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


class _CostlyCollector:
    """Stands for engines whose retained state takes ``cost_s`` to walk at each collection."""

    def __init__(self, cost_s: float) -> None:
        self.cost_s = cost_s

    def gather(self) -> Callable[[], list]:  # type: ignore[type-arg]
        time.sleep(self.cost_s)  # on the owner loop, as the engines' walk is
        return lambda: []


async def test_a_costly_collection_is_reused_so_collecting_keeps_to_its_share_of_the_loop():
    # 0.2 s of walking at a 1% share: reused for at least 19.8 s, however often asked.
    bounded = ExpositionCache(
        _CostlyCollector(0.2), asyncio.get_running_loop(), max_age_s=0.0, owner_share=0.01
    )  # type: ignore[arg-type]
    for _ in range(3):
        assert (await bounded.response()).status == "200 OK"
    assert bounded.collections == 1
    # Without a share (tests, the scrape bench) every scrape older than max_age collects.
    unbounded = ExpositionCache(_CostlyCollector(0.2), asyncio.get_running_loop(), 0.0)  # type: ignore[arg-type]
    for _ in range(3):
        await unbounded.response()
    assert unbounded.collections == 3


async def test_at_a_share_of_the_whole_loop_only_the_refresh_interval_decides():
    # owner_share 1: a collection may take all of the loop, so it is never kept for its cost.
    cache = ExpositionCache(
        _CostlyCollector(0.05), asyncio.get_running_loop(), max_age_s=0.0, owner_share=1.0
    )  # type: ignore[arg-type]
    for _ in range(3):
        await cache.response()
    assert cache.collections == 3
