"""The worker's HTTP endpoint: aiohttp on its own thread and event loop, apart from the Kafka one.

Why a thread: a scrape must never hold up consuming, and consuming must never
hold up ``/healthz``. The Kafka loop only collects the figures (engine state
changes only there, so it must be read there), at most once per
``metrics_refresh_interval`` however many scrapes arrive, and a collection that cost t
seconds there is reused for at least t / owner_share - t (``owner_share``: at most
that share of the loop goes to collecting); the text is rendered
on a worker thread by prometheus_client: its ``choose_encoder`` picks the
Prometheus text or OpenMetrics format from the scraper's ``Accept`` header, and
the body is gzipped when ``Accept-Encoding`` allows (``gzip_accepted``), as the
library's own handlers do. Each format is rendered once per collection.

Why not prometheus_client's ``make_aiohttp_handler`` as it is: it renders on the
serving loop, per request. 62k series take ~0.3-0.7 s to render (BENCHMARKS.md),
and the probes share that loop: they would wait behind every scrape.

HTTP itself is aiohttp's (low-level ``web.Server``): request parsing, HEAD without
a body, header size limits. What it adds here, in ``_GuardedServer``:

* a connection that has not sent its request headers within the header timeout is
  closed, and so is an answer not taken by the client within it;
* at most ``max_connections`` are open. At the cap a new connection takes the place
  of the oldest one still waiting for its headers (else of the oldest scrape in
  progress); a probe being answered is never displaced. So idle or slow clients
  cannot keep ``/healthz`` and ``/readyz`` out: a probe sends its request as soon as
  it connects and is answered at once, from plain flags (docs/operations.md).

Each answer closes its connection (Prometheus reconnects; nothing here is chatty).
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
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from prometheus_client.exposition import choose_encoder, gzip_accepted

from agents.metrics.collector import EngineCollector

log = logging.getLogger(__name__)

# Formats kept per collection. The Accept header picks one (its version and escaping
# parameters are the client's): beyond these, a format is rendered and not kept.
MAX_KEPT_FORMATS = 8
# A worker nobody scrapes still learns this often whether its metrics can be
# collected (/healthz fails when they cannot).
HEALTH_COLLECT_EVERY_S = 60.0
# The answers that are never displaced at the connection cap.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


@dataclass(frozen=True, slots=True)
class Response:
    status: str  # "200 OK"
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[], Awaitable[Response]]

# The request headers of the handler being run, for the handlers that negotiate
# (/metrics); the others keep their plain signature. aiohttp runs each request in a
# task of its own, so each sees its own request's headers.
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
        self,
        collector: EngineCollector,
        owner: asyncio.AbstractEventLoop,
        max_age_s: float,
        owner_share: float | None = None,
    ) -> None:
        """``owner_share``: the most of the owner loop's time collections may take (None: no
        bound): a collection that took t s is reused for at least t / owner_share - t s."""
        self._collector = collector
        self._owner = owner
        self._max_age_s = max_age_s
        self._owner_share = owner_share
        self._reuse_s = max_age_s  # max_age_s, or longer after a costly collection
        self._families: list = []  # type: ignore[type-arg]
        self._rendered: dict[tuple[str, bool], asyncio.Future[bytes]] = {}
        self._at = float("-inf")
        self._tried_at = float("-inf")
        self._refreshing: asyncio.Future[list] | None = None  # type: ignore[type-arg]
        self.collections = 0  # how many times the figures were collected (for tests, bench)
        # Why the last collection or rendering failed (the error's class), None once one works.
        self.failure: str | None = None

    async def response(self, accept: str = "", accept_encoding: str = "") -> Response:
        """The metrics in the format ``accept`` asks for, gzipped if ``accept_encoding`` allows."""
        encoder, content_type = choose_encoder(accept)
        compress = gzip_accepted(accept_encoding)
        if time.monotonic() - self._at >= self._reuse_s:
            await asyncio.shield(self._refresh_once())
        key = (content_type, compress)
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = asyncio.get_running_loop().run_in_executor(
                None, _render, encoder, self._families, compress
            )
            if len(self._rendered) < MAX_KEPT_FORMATS:
                self._rendered[key] = rendered
        try:
            body = await asyncio.shield(rendered)
        except Exception as error:
            self._rendered.pop(key, None)
            self.failure = f"rendering the metrics failed ({type(error).__name__})"
            raise
        return Response(
            "200 OK", content_type, body, (("Content-Encoding", "gzip"),) if compress else ()
        )

    def check_soon(self) -> None:
        """Collect in the background when nothing has tried for a while (for /healthz)."""
        if time.monotonic() - self._tried_at >= HEALTH_COLLECT_EVERY_S:
            self._refresh_once().add_done_callback(_retrieve)

    def _refresh_once(self) -> asyncio.Future[list]:  # type: ignore[type-arg]
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._refresh())
        return self._refreshing

    async def _refresh(self) -> list:  # type: ignore[type-arg]
        started = self._tried_at = time.monotonic()
        try:

            async def gather() -> tuple[Callable[[], list], float]:  # type: ignore[type-arg]
                begun = time.perf_counter()
                build = self._collector.gather()
                return build, time.perf_counter() - begun

            build, owner_s = await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(gather(), self._owner)
            )
            self.collections += 1
            self._reuse_s = self._max_age_s
            if self._owner_share is not None:
                # The gather walks the engines' retained state on the Kafka loop, so its cost
                # grows with that state: however often /metrics is asked, collecting takes
                # at most this share of that loop.
                self._reuse_s = max(self._max_age_s, owner_s / self._owner_share - owner_s)
            families = await asyncio.get_running_loop().run_in_executor(None, build)
        except Exception as error:
            self.failure = f"collecting the metrics failed ({type(error).__name__})"
            raise
        finally:
            self._refreshing = None
        self._families, self._rendered, self._at = families, {}, started
        self.failure = None
        return families


def _retrieve(done: asyncio.Future[Any]) -> None:
    # A background collection's error is kept in ``failure``; asyncio must not log it again.
    if not done.cancelled():
        done.exception()


def _render(encoder: Callable[[_Families], bytes], families: list, compress: bool) -> bytes:  # type: ignore[type-arg]
    body = encoder(_Families(families))
    return gzip.compress(body) if compress else body


class _GuardedServer(web.Server):
    """aiohttp's low-level server, with the header timeout and the connection cap."""

    def __init__(
        self, handler: Any, *, max_connections: int, header_timeout_s: float, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self._cap = max_connections
        self._timeout_s = header_timeout_s
        self._open: set[RequestHandler] = set()
        # Displaceable at the cap, oldest first: those still waiting for their headers
        # (with the timer that closes them), then the scrapes being answered.
        self._waiting: dict[RequestHandler, asyncio.TimerHandle] = {}
        self._scraping: dict[RequestHandler, asyncio.TimerHandle | None] = {}

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self._open) >= self._cap:
            displaced = next(iter(self._waiting), None) or next(iter(self._scraping), None)
            if displaced is None:  # every slot answers a probe: this one waits its turn
                handler.force_close()
                return
            self._close(displaced)
        self._open.add(handler)
        self._waiting[handler] = self._loop.call_later(self._timeout_s, self._close, handler)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._forget(handler)

    def request_started(self, handler: RequestHandler, path: str) -> None:
        """The headers are in: a probe is no longer displaceable, a scrape still is."""
        timer = self._waiting.pop(handler, None)
        if timer is not None:
            timer.cancel()
        if path not in PROBE_PATHS and handler in self._open:
            self._scraping[handler] = None

    def answer_ready(self, handler: RequestHandler) -> None:
        """The client has the header timeout to take the answer, then it is closed."""
        if handler not in self._open:
            return  # displaced or gone meanwhile
        earlier = self._scraping.get(handler)
        if earlier is not None:
            earlier.cancel()
        self._scraping[handler] = self._loop.call_later(self._timeout_s, self._close, handler)

    def close_all(self) -> None:
        for handler in list(self._open):
            self._close(handler)

    def _close(self, handler: RequestHandler) -> None:
        self._forget(handler)
        handler.force_close()

    def _forget(self, handler: RequestHandler) -> None:
        self._open.discard(handler)
        for timer in (self._waiting.pop(handler, None), self._scraping.pop(handler, None)):
            if timer is not None:
                timer.cancel()


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
        self.loop: asyncio.AbstractEventLoop | None = None
        self._web: _GuardedServer | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def open_connections(self) -> int:
        return self._web.open_connections if self._web is not None else 0

    def start(self) -> None:
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="metrics-http", daemon=True
        )
        self._thread.start()
        ready.result(timeout=10)

    def _run(self, ready: Future[None]) -> None:
        loop = self.loop = asyncio.new_event_loop()

        async def listen() -> asyncio.AbstractServer:
            self._web = _GuardedServer(
                self._dispatch,
                max_connections=self.max_connections,
                header_timeout_s=self.header_timeout_s,
                keepalive_timeout=self.header_timeout_s,
                access_log=None,
            )
            return await loop.create_server(self._web, self.host, self.port)

        try:
            self._server = loop.run_until_complete(listen())
        except BaseException as error:
            ready.set_exception(error)
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            # The executor's threads (renders, collections) end with the server, not once a
            # full garbage collection happens to free the loop.
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def stop(self) -> None:
        loop, server, web_server = self.loop, self._server, self._web
        if loop is None or server is None or web_server is None:
            return

        async def close() -> None:
            server.close()
            web_server.close_all()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        web_server, protocol = self._web, request.protocol
        assert web_server is not None
        web_server.request_started(protocol, request.path)
        response = await self._respond(request)
        answer = web.Response(
            status=int(response.status.split(" ", 1)[0]),
            body=response.body,
            headers={"Content-Type": response.content_type, **dict(response.headers)},
        )
        answer.force_close()
        web_server.answer_ready(protocol)
        return answer

    async def _respond(self, request: web.BaseRequest) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("405 Method Not Allowed", "text/plain", b"GET only\n")
        handler = self.routes.get(request.path)
        if handler is None:
            return Response("404 Not Found", "text/plain", b"not found\n")
        # Repeated names joined by commas, as HTTP allows; names lower-cased.
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        request_headers.set(headers)
        try:
            return await handler()
        except Exception:
            log.exception("%s failed", request.path)
            return Response("500 Internal Server Error", "text/plain", b"failed\n")


def metrics_route(cache: ExpositionCache) -> Handler:
    async def metrics() -> Response:
        headers = request_headers.get({})
        return await cache.response(headers.get("accept", ""), headers.get("accept-encoding", ""))

    return metrics
