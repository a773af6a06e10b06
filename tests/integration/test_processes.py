"""Processes end when they should: the demo stops everything it started on Ctrl-C, SIGTERM and
SIGHUP; its broker and worker end on their own if the demo is SIGKILLed; a worker on SIGTERM
leaves its group, writes a final checkpoint and exits 0 within its session timeout.

Waits are bounded (the bound is the requirement); nothing asserts how fast within it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agents.harness.broker import free_port, pid_alive
from agents.harness.processes import WorkerSubprocess, input_topics, scrape, total
from agents.harness.waiting import wait_for
from agents.settings import load_settings
from tests.agents.live.test_group_leave import group_members
from tests.ctrl_c import as_a_terminal_starts_it
from tests.integration.test_live_pipeline import wait_for_figures
from tests.integration.workload import engine_figures, expected_engine, produce_sync, workload

pytestmark = pytest.mark.integration
STOP_BOUND_S = 10.0


def children_of(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 4 is the parent pid; the command name (field 2) may hold spaces.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def wait_gone(pids: set[int], bound_s: float) -> set[int]:
    """The pids still alive after the bound (empty when all ended in time)."""
    alive = set(pids)

    def all_gone() -> bool:
        alive.intersection_update({p for p in alive if pid_alive(p) and not _zombie(p)})
        return not alive

    wait_for(all_gone, bound_s)
    return alive


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def start_demo(log: Path) -> tuple[subprocess.Popen[bytes], set[int]]:
    """The demo running a simulation, and the pids of the broker and worker it started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "EDC_LATENCY_"))}
    env["PYTHONUNBUFFERED"] = "1"
    # Its own metrics port: demos of parallel test processes would race for the default one.
    env["EDC_LATENCY_METRICS_PORT"] = str(free_port())
    demo = subprocess.Popen(
        [sys.executable, "-m", "agents.cli", "demo", "--every", "1"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        # Ctrl-C at its default, as a terminal starts the demo: a test run started in the
        # background would pass SIGINT on ignored (tests/ctrl_c.py).
        preexec_fn=as_a_terminal_starts_it,
    )
    started = wait_for(
        lambda: demo.poll() is not None or "simulated time" in log.read_text(errors="replace"), 120
    )
    if not started or demo.poll() is not None:
        demo.kill()
        pytest.fail(f"demo did not start: {log.read_text(errors='replace')[-2000:]}")
    children = children_of(demo.pid)
    assert len(children) == 2, "the demo starts a broker and a worker"
    return demo, children


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_the_demo_leaves_nothing_running(sig, tmp_path):
    demo, children = start_demo(tmp_path / "demo.log")
    try:
        demo.send_signal(sig)
        left = wait_gone({demo.pid, *children}, STOP_BOUND_S)
        assert not left, f"still running {STOP_BOUND_S}s after {sig.name}: {sorted(left)}"
        if sig != signal.SIGKILL:
            assert demo.wait(timeout=1) == 0
            assert "stopped: worker and broker are gone" in (tmp_path / "demo.log").read_text()
    finally:
        for pid in (demo.pid, *children):
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        demo.wait(timeout=10)


def test_a_worker_on_sigterm_leaves_the_group_checkpoints_and_exits_0(pipeline_env):
    # No periodic checkpoint: the survivor can only restore the stopped worker's shards
    # from a checkpoint if that worker wrote one on its way out.
    session_timeout_s = 10
    env = {
        **pipeline_env,
        "EDC_LATENCY_CHECKPOINT_INTERVAL": "1h",
        "EDC_LATENCY_SESSION_TIMEOUT": f"{session_timeout_s}s",
    }
    messages = workload(seed=41)
    expected = engine_figures(expected_engine(messages, load_settings().engine_config()))
    with WorkerSubprocess(env) as a, WorkerSubprocess(env) as b:
        a.wait_ready()
        b.wait_ready(timeout_s=120)
        produce_sync(env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(env), messages)
        want, got = wait_for_figures([a, b], expected, timeout_s=120)
        assert got == want
        assert a.process is not None
        group = (env["KAFKA_BOOTSTRAP_SERVERS"], env["EDC_LATENCY_APP_ID"])
        members = set(asyncio.run(group_members(*group)))
        assert len(members) == 2
        a.process.send_signal(signal.SIGTERM)
        assert a.process.wait(timeout=session_timeout_s) == 0
        # It left: gone from the group now, not only once its session would expire.
        still = members & set(asyncio.run(group_members(*group)))
        assert len(still) < 2, "the stopped worker is still listed in the consumer group"
        assert re.search(r"stopping: final checkpoint of [1-9]\d* changed", a.log_tail(40))
        want, got = wait_for_figures([b], expected, timeout_s=120)
        assert got == want
        assert total(scrape(b.url), "edc_worker_partitions") == 4
        assert re.search(r"restored shards \[.*\]: [1-9]\d* from checkpoints", b.log_tail(40))
