"""The one check every command makes before it talks to Kafka (``check_broker``).

Two steps, each failing in one clear line:

1. **TLS and SASL** (ConfigurationError, exit 2): the brokers accept our settings.
Without it a wrong CA shows up as aiokafka's retry loop ("Unable connect to …"
for the length of a bootstrap timeout, then a traceback), and a refused SASL
login as a bare ``KeyError: 'v'`` from aiokafka's SCRAM client. The check makes
one TLS handshake per bootstrap server until one succeeds, then (SASL) one
login. A server that does not answer at all is left to the clients' own
retries: it may still be starting.

2. **Reachable, in bounded time** (BrokerUnreachable, exit 5): a client connects and
   reads the cluster's metadata within ``startup_timeout``. A TLS or SASL mismatch
   (e.g. SASL_SSL against a plaintext listener) or an unreachable broker makes Kafka
   clients retry quietly for a long time; a command must instead fail within
   ``startup_timeout`` and say what it tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from typing import Any

from agents.errors import BrokerUnreachable
from agents.settings import ConfigurationError, Settings


def check_broker(settings: Settings, timeout_s: float = 10.0) -> None:
    """Both steps (the module docstring): ConfigurationError when a reachable broker refuses
    our TLS or SASL, BrokerUnreachable when none answers within ``startup_timeout``."""
    check_security(settings, timeout_s)
    if settings.bootstrap_servers:
        asyncio.run(_reachable(settings))


def check_security(settings: Settings, timeout_s: float = 10.0) -> None:
    """Step 1: raise ConfigurationError (one line) when a reachable broker refuses our TLS or SASL."""
    if not settings.bootstrap_servers or settings.security_protocol == "PLAINTEXT":
        return
    reachable = _check_tls(settings, timeout_s)
    if reachable and settings.security_protocol.startswith("SASL"):
        _check_login(settings, timeout_s)


def _servers(settings: Settings) -> list[tuple[str, str, int]]:
    out = []
    for server in (settings.bootstrap_servers or "").split(","):
        host, _, port = server.strip().rpartition(":")
        if host and port.isdigit():
            out.append((server.strip(), host, int(port)))
    return out


def _check_tls(settings: Settings, timeout_s: float) -> bool:
    """True when a server answered (and, with TLS, completed a handshake)."""
    tls = settings.security_protocol in ("SSL", "SASL_SSL")
    context: ssl.SSLContext | None = settings.ssl_context() if tls else None
    problems: list[str] = []
    for server, host, port in _servers(settings):
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as raw:
                if context is None:
                    return True
                with context.wrap_socket(raw, server_hostname=host):
                    return True
        except ssl.SSLCertVerificationError as error:
            problems.append(
                f"TLS to {server}: certificate not trusted ({error.verify_message}); "
                "check that ssl_cafile is the CA that signed the broker's certificate"
            )
        except ssl.SSLError as error:
            problems.append(
                f"TLS to {server}: handshake failed ({error.reason}); is it a TLS port?"
            )
        except OSError:
            continue  # unreachable: the clients report it, with retries
    if problems:
        raise ConfigurationError(problems[0])
    return False


def _check_login(settings: Settings, timeout_s: float) -> None:
    from aiokafka.client import AIOKafkaClient

    async def login() -> None:
        client = AIOKafkaClient(
            **settings.kafka_client_options(), request_timeout_ms=int(timeout_s * 1000)
        )
        try:
            await client.bootstrap()
        finally:
            await client.close()

    # aiokafka logs each failed attempt; the one line below says it all.
    quiet = logging.getLogger("aiokafka")
    level, quiet.level = quiet.level, logging.CRITICAL + 1
    try:
        asyncio.run(login())
    except Exception as error:
        # The error's type only: the message of a failed login is the client's, not ours.
        raise ConfigurationError(
            f"SASL {settings.sasl_mechanism} login as {settings.sasl_username!r} to "
            f"{settings.bootstrap_servers} refused ({type(error).__name__}); "
            "check sasl_username, sasl_password and sasl_mechanism"
        ) from None
    finally:
        quiet.level = level


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


async def _reachable(settings: Settings) -> None:
    """Step 2: return once a client has connected and read the cluster's metadata, else raise."""
    options = settings.kafka_client_options()
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
