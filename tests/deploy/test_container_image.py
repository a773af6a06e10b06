"""The worker image, built here and run against the broker on the host network.

Built from deploy/container/Containerfile on a base bootstrapped from Debian's packages
(no registry is needed); run read-only as the Kubernetes manifests run it. The figures it
serves must equal the engine's on the same input, its readiness endpoint and the image's
HEALTHCHECK must answer, it must not run as root, and `podman stop` must end it cleanly
within the stop timeout (exit code 0, not a SIGKILL).
"""

from __future__ import annotations

import fcntl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.harness.broker import free_port
from agents.harness.processes import input_topics, isolated_env, scrape
from agents.harness.waiting import settled, wait_for
from agents.settings import load_settings
from tests.deploy.podman import STOP_TIMEOUT_S, build_image, podman, ulimit_flags
from tests.integration.workload import (
    engine_figures,
    expected_engine,
    produce_sync,
    scraped_figures,
    workload,
)

pytestmark = pytest.mark.integration

READY = "/readyz"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    # One build at a time over the parallel runners (they share the parent of their temporary
    # directories): this module's tests may run on two, and the second then finds every layer
    # built instead of compiling the same modules again beside the first.
    with (tmp_path_factory.getbasetemp().parent / "image-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_image()


@pytest.fixture
def container(image: str, kafka_bootstrap: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A worker container on the host network; its name, base URL and environment."""
    env = isolated_env(
        kafka_bootstrap,
        "edc-latency-image",
        EDC_LATENCY_SHARD_PARTITIONS="4",
        EDC_LATENCY_CLOCK="event",
        EDC_LATENCY_CHECKPOINT_INTERVAL="1s",
        EDC_LATENCY_METRICS_PORT=str(free_port()),
    )
    name = f"edc-latency-test-{uuid.uuid4().hex[:8]}"
    flags = [f"--env={key}={value}" for key, value in env.items()]
    # Read-only as the Kubernetes Deployment runs it: only /tmp and the working directory
    # (where Faust makes its data directory; an emptyDir there) are writable.
    started = podman(
        "run", "--detach", "--name", name, "--network", "host", "--read-only",
        "--tmpfs", "/var/lib/edc-latency:rw,U",
        *ulimit_flags(), *flags, image,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        yield name, f"http://127.0.0.1:{env['EDC_LATENCY_METRICS_PORT']}", env
    finally:
        podman("rm", "--force", "--time", "0", name)


def logs(name: str) -> str:
    result = podman("logs", "--tail", "15", name)
    return (result.stdout + result.stderr)[-3000:]


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_ready(name: str, base: str, timeout_s: float = 120) -> None:

    def ready() -> bool:
        if status(base + READY) == 200:
            return True
        state = podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        assert state == "true", f"container exited: {logs(name)}"
        return False

    assert wait_for(ready, timeout_s), f"{READY} not 200 within {timeout_s:.0f}s: {logs(name)}"


def process_uids(name: str) -> list[int]:
    """Real, effective, saved and filesystem uids of the container's main process."""
    pid = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    status_lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    (uid_line,) = [line for line in status_lines if line.startswith("Uid:")]
    return [int(uid) for uid in uid_line.split()[1:]]


def listens_on_all_interfaces(name: str, port: int) -> bool:
    """Whether the container's main process has a TCP socket listening on 0.0.0.0:port."""
    pid = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    listening = "0A"
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == listening and local == f"00000000:{port:04X}":
            return True
    return False


def test_the_image_runs_the_compiled_engine(image):
    """The build stage compiled the hot modules (setup.py); the image loads them."""
    printed = podman("run", "--rm", *ulimit_flags(), image, "--version")
    assert printed.returncode == 0, printed.stderr
    text = " ".join(printed.stdout.split())
    assert "compiled core: true; compiled (" in text, text
    assert "RuntimeWarning" not in printed.stderr, printed.stderr  # no stale module


def test_the_image_serves_the_engines_figures_as_non_root_and_stops_cleanly(container):
    name, base, env = container
    wait_ready(name, base)
    assert status(base + "/healthz") == 200
    assert all(uid != 0 for uid in process_uids(name)), process_uids(name)
    # The image sets the metrics host: reachable from outside the container (a kubelet).
    assert listens_on_all_interfaces(name, int(env["EDC_LATENCY_METRICS_PORT"]))

    messages = workload(entries=120)
    settings = load_settings()  # the engine settings: defaults, as in the container
    expected = engine_figures(expected_engine(messages, settings.engine_config()))
    produce_sync(env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(env), messages)
    nonzero = {k: v for k, v in expected.items() if v}
    scraped = settled(
        lambda: {k: v for k, v in scraped_figures([scrape(base + "/metrics")]).items() if v},
        lambda now: now == nonzero,
        90,
    )
    assert scraped == nonzero, logs(name)

    # The image's own HEALTHCHECK (run on demand: this machine has no systemd timers).
    health = podman("healthcheck", "run", name)
    assert health.returncode == 0, health.stdout + health.stderr

    started = time.monotonic()
    stopped = podman("stop", "--time", str(STOP_TIMEOUT_S), name, timeout_s=STOP_TIMEOUT_S + 30)
    took = time.monotonic() - started
    assert stopped.returncode == 0, stopped.stderr
    exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    # 137 would mean podman had to SIGKILL it after the timeout.
    assert exit_code == "0", f"exit {exit_code} after {took:.1f}s: {logs(name)}"
