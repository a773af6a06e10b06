"""The handlers of ``/healthz`` and ``/readyz``, answered on the metrics server's own thread.

They read plain flags and copy a few dicts' keys under the GIL, so they never wait
behind the Kafka loop (agents/live/readiness.py says what each answer means).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from agents.live.readiness import Readiness
from agents.live.stalls import StallWatch
from agents.metrics.http import ExpositionCache, Handler, Response


def probe_routes(
    readiness: Readiness,
    shards: Callable[[], Iterable[int]],
    unrestored: Callable[[], Iterable[int]],
    stalls: StallWatch,
    exposition: ExpositionCache,
) -> dict[str, Handler]:
    async def healthz() -> Response:
        exposition.check_soon()  # a worker nobody scrapes still finds out
        healthy, reasons = readiness.healthy(exposition.failure)
        return _json({"healthy": healthy, "reasons": reasons, "shards": sorted(shards())}, healthy)

    async def readyz() -> Response:
        ready, reasons = readiness.ready(unrestored(), list(stalls.stuck), stalls.stall_after_s)
        return _json({"ready": ready, "reasons": reasons, "shards": sorted(shards())}, ready)

    return {"/healthz": healthz, "/readyz": readyz}


def _json(body: dict[str, Any], ok: bool) -> Response:
    status = "200 OK" if ok else "503 Service Unavailable"
    return Response(status, "application/json", orjson.dumps(body))
