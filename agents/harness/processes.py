"""Worker processes started by the demo, the tests and the benchmarks, and scraping their metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

from agents.harness.broker import free_port, terminate
from agents.harness.lifetime import die_with_parent
from agents.harness.waiting import wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, timeout_s: float = 5.0) -> Samples:
    """Every sample of a /metrics page, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of a name whose labels include the given ones."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= set(lbls))


def isolated_env(bootstrap: str, app_prefix: str, **extra: str) -> dict[str, str]:
    """Worker environment with its own consumer group and topics on a shared broker."""
    run = uuid.uuid4().hex[:8]
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "EDC_LATENCY_APP_ID": f"{app_prefix}-{run}",
        "EDC_LATENCY_TOPIC_ENTRIES": f"entries-{run}",
        "EDC_LATENCY_TOPIC_QUERIES": f"queries-{run}",
        "EDC_LATENCY_TOPIC_PUBLISHES": f"publishes-{run}",
        "EDC_LATENCY_TOPIC_DEADLETTER": f"deadletter-{run}",
        **extra,
    }


def input_topics(env: dict[str, str]) -> dict[str, str]:
    """The input topics of an environment, by message kind."""
    return {
        "entries": env["EDC_LATENCY_TOPIC_ENTRIES"],
        "queries": env["EDC_LATENCY_TOPIC_QUERIES"],
        "publishes": env["EDC_LATENCY_TOPIC_PUBLISHES"],
    }


class WorkerSubprocess:
    """``edc-latency worker`` in a child process, configured through its environment."""

    def __init__(
        self, env: dict[str, str], host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}/metrics"
        self.env = {
            **os.environ,
            **env,
            "EDC_LATENCY_METRICS_HOST": host,
            "EDC_LATENCY_METRICS_PORT": str(self.port),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def start(self) -> WorkerSubprocess:
        handle, name = tempfile.mkstemp(prefix="edc-worker-", suffix=".log")
        self.log_path = Path(name)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agents.cli", "worker"],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # SIGKILL when its parent dies (agents/harness/lifetime.py): its broker may be dying at
            # the same moment, and a clean stop would wait for it. Offsets and checkpoints
            # make a hard stop safe (docs/operations.md).
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
        os.close(handle)
        return self

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until /metrics answers and the worker owns its shards (or the timeout)."""

        def owns_shards() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_tail()}")
            try:
                return total(scrape(self.url, 1.0), "edc_worker_partitions") > 0
            except OSError:  # /metrics not up yet
                return False

        if not wait_for(owns_shards, timeout_s):
            raise TimeoutError(f"worker not ready within {timeout_s:.0f}s: {self.log_tail()}")

    def probe(self, path: str, timeout_s: float = 2.0) -> tuple[int, dict[str, object]]:
        """Status and JSON body of /readyz or /healthz (a 503 is an answer, not an error)."""
        url = self.url.removesuffix("/metrics") + path
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def log_tail(self, lines: int = 8) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_bytes()[-4000:].decode(errors="replace")
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, no final checkpoint."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is not None:
            terminate(self.process, timeout_s)

    def close(self) -> None:
        self.stop()
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> WorkerSubprocess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
