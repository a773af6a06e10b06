"""The worker's HTTP endpoint, on its own thread and event loop, apart from the Kafka one.

Why a thread: a scrape must never hold up consuming, and consuming must never
hold up ``/healthz``. The Kafka loop only collects the figures (engine state
changes only there, so it must be read there), at most once per
``metrics_refresh_interval`` however many scrapes arrive; the text is rendered
here, on a worker thread, by prometheus_client: its ``choose_encoder`` picks the
Prometheus text or OpenMetrics format from the scraper's ``Accept`` header, and
the body is gzipped when ``Accept-Encoding`` allows (``gzip_accepted``), as the
library's own HTTP handlers do. Each format is rendered once per collection.

Hostile clients: a connection that has not sent its request headers within the
header timeout is closed, and connections beyond a cap are closed at once. Each
answer closes its connection (Prometheus reconnects; nothing here is chatty).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass

from prometheus_client.exposition import choose_encoder, gzip_accepted

from agents.exporter import EngineCollector

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 << 10
# Formats kept per collection. The Accept header picks one (its version and escaping
# parameters are the client's): beyond these, a format is rendered and not kept.
MAX_KEPT_FORMATS = 8


@dataclass(frozen=True, slots=True)
class Response:
    status: str  # "200 OK"
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[], Awaitable[Response]]

# The request headers of the handler being run (names lower-cased), for the handlers
# that negotiate (/metrics); the others keep their plain signature.
request_headers: ContextVar[Mapping[str, str]] = ContextVar("request_headers")


class _Families:
    """What ``generate_latest`` expects of a registry: ``collect()``."""

    def __init__(self, families: list) -> None:  # type: ignore[type-arg]
        self._families = families

    def collect(self) -> Iterable:  # type: ignore[type-arg]
        return iter(self._families)


class ExpositionCache:
    """The /metrics body: collected on the owner loop, rendered off it, reused while fresh."""

    def __init__(
        self, collector: EngineCollector, owner: asyncio.AbstractEventLoop, max_age_s: float
    ) -> None:
        self._collector = collector
        self._owner = owner
        self._max_age_s = max_age_s
        self._families: list = []  # type: ignore[type-arg]
        self._rendered: dict[tuple[str, bool], asyncio.Future[bytes]] = {}
        self._at = float("-inf")
        self._refreshing: asyncio.Future[list] | None = None  # type: ignore[type-arg]
        self.collections = 0  # how many times the figures were collected (for tests, bench)

    async def response(self, accept: str = "", accept_encoding: str = "") -> Response:
        """The metrics in the format ``accept`` asks for, gzipped if ``accept_encoding`` allows."""
        encoder, content_type = choose_encoder(accept)
        compress = gzip_accepted(accept_encoding)
        if time.monotonic() - self._at >= self._max_age_s:
            if self._refreshing is None:
                self._refreshing = asyncio.ensure_future(self._refresh())
            await asyncio.shield(self._refreshing)
        key = (content_type, compress)
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = asyncio.get_running_loop().run_in_executor(
                None, _render, encoder, self._families, compress
            )
            if len(self._rendered) < MAX_KEPT_FORMATS:
                self._rendered[key] = rendered
        body = await asyncio.shield(rendered)
        return Response(
            "200 OK", content_type, body, (("Content-Encoding", "gzip"),) if compress else ()
        )

    async def _refresh(self) -> list:  # type: ignore[type-arg]
        try:
            started = time.monotonic()

            async def gather() -> Callable[[], list]:  # type: ignore[type-arg]
                return self._collector.gather()

            build = await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(gather(), self._owner)
            )
            self.collections += 1
            families = await asyncio.get_running_loop().run_in_executor(None, build)
            self._families, self._rendered, self._at = families, {}, started
            return families
        finally:
            self._refreshing = None


def _render(encoder: Callable[[_Families], bytes], families: list, compress: bool) -> bytes:  # type: ignore[type-arg]
    body = encoder(_Families(families))
    return gzip.compress(body) if compress else body


class MetricsServer:
    """``start()`` returns once listening; ``stop()`` closes every connection and the thread."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: dict[str, Handler],
        header_timeout_s: float,
        max_connections: int,
    ) -> None:
        self.host = host
        self.port = port
        self.routes = routes
        self.header_timeout_s = header_timeout_s
        self.max_connections = max_connections
        self.open_connections = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="metrics-http", daemon=True
        )
        self._thread.start()
        ready.result(timeout=10)

    def _run(self, ready: Future[None]) -> None:
        loop = self.loop = asyncio.new_event_loop()
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEADER_BYTES)
            )
        except BaseException as error:
            ready.set_exception(error)
            return
        ready.set_result(None)
        loop.run_forever()

    def stop(self) -> None:
        loop, server = self.loop, self._server
        if loop is None or server is None:
            return

        async def close() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open_connections >= self.max_connections:
            writer.close()  # over the cap: no answer, no buffer, no task kept
            return
        self.open_connections += 1
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.header_timeout_s)
            response = await self._respond(head)
            headers = [
                ("Content-Type", response.content_type),
                *response.headers,
                ("Content-Length", str(len(response.body))),
                ("Connection", "close"),
            ]
            lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
            writer.write(f"HTTP/1.1 {response.status}\r\n{lines}\r\n".encode() + response.body)
            await asyncio.wait_for(writer.drain(), self.header_timeout_s)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # slow, half-sent, oversized or gone: just close
        finally:
            self.open_connections -= 1
            writer.close()

    async def _respond(self, head: bytes) -> Response:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] not in ("GET", "HEAD"):
            return Response("405 Method Not Allowed", "text/plain", b"GET only\n")
        path = parts[1].split("?", 1)[0]
        handler = self.routes.get(path)
        if handler is None:
            return Response("404 Not Found", "text/plain", b"not found\n")
        request_headers.set(_headers(header_lines))  # this connection's own task and context
        try:
            return await handler()
        except Exception:
            log.exception("%s failed", path)
            return Response("500 Internal Server Error", "text/plain", b"failed\n")


def _headers(lines: list[str]) -> dict[str, str]:
    """Request header lines → {lower-cased name: value}; repeated names joined by commas."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def metrics_route(cache: ExpositionCache) -> Handler:
    async def metrics() -> Response:
        headers = request_headers.get({})
        return await cache.response(headers.get("accept", ""), headers.get("accept-encoding", ""))

    return metrics
