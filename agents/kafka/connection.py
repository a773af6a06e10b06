"""A check at start that the brokers accept our TLS and SASL settings, with one clear line if not.

Without it a wrong CA shows up as aiokafka's retry loop ("Unable connect to …"
for the length of a bootstrap timeout, then a traceback), and a refused SASL
login as a bare ``KeyError: 'v'`` from aiokafka's SCRAM client. The check makes
one TLS handshake per bootstrap server until one succeeds, then (SASL) one
login. A server that does not answer at all is left to the clients' own
retries: it may still be starting.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

from agents.settings import ConfigurationError, Settings


def check_broker(settings: Settings, timeout_s: float = 10.0) -> None:
    """Raise ConfigurationError (one line) when a reachable broker refuses our TLS or SASL."""
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
