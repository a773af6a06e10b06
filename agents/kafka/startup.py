"""Start-up against the brokers: bounded in time, and one line saying what was tried when it fails.

A TLS or SASL mismatch (e.g. SASL_SSL against a plaintext listener) or an
unreachable broker makes Kafka clients retry quietly for a long time; a worker
must instead fail within ``startup_timeout`` and say what it tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from agents.errors import BrokerUnreachable
from agents.settings import Settings


def attempt(settings: Settings) -> str:
    """What a connection attempt used, without secrets."""
    parts = [
        f"Kafka at {settings.bootstrap_servers}",
        f"security_protocol={settings.security_protocol}",
    ]
    if settings.sasl_mechanism:
        parts.append(f"sasl_mechanism={settings.sasl_mechanism} as {settings.sasl_username!r}")
    if settings.ssl_cafile:
        parts.append(f"ssl_cafile={settings.ssl_cafile}")
    return ", ".join(parts)


async def check_brokers(settings: Settings, options: dict[str, Any] | None = None) -> None:
    """Return once a client has connected and read the cluster's metadata, else raise."""
    options = settings.kafka_client_options() if options is None else options
    deadline = time.monotonic() + settings.startup_timeout
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its retries would print lines of their own
    try:
        await _attempts(settings, options, deadline)
    finally:
        quiet.setLevel(level)


async def _attempts(settings: Settings, options: dict[str, Any], deadline: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    timeout_s = settings.startup_timeout
    last = "no answer"
    while (remaining := deadline - time.monotonic()) > 0:
        admin = AIOKafkaAdminClient(**options, request_timeout_ms=max(1000, int(remaining * 1000)))
        try:
            await asyncio.wait_for(admin.start(), remaining)
            return
        except TimeoutError:
            last = "no answer (a TLS or SASL mismatch with the listener looks like this)"
            break
        except Exception as error:  # refused, wrong credentials, bad certificate...
            last = " ".join(f"{type(error).__name__}: {error}".split())[:300]
        finally:
            with contextlib.suppress(Exception):  # closing a client that never connected
                await asyncio.wait_for(admin.close(), 2.0)
        await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    raise BrokerUnreachable(f"could not reach {attempt(settings)} within {timeout_s:g}s: {last}")
