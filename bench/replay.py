"""Replay from a file: events/s against the floor of reading the file and orjson.loads of every
line, on the simulator's mix and on a realistic audit mix, the latter beside its SQL peer."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from agents.settings import load_settings
from agents.sim.simulator import Simulation
from bench.peer import check_agreement, run_peer
from bench.realistic_mix import AS_OF as REALISTIC_AS_OF
from bench.realistic_mix import write_realistic_mix
from schemas.compiled import INTERPRETED_ENV
from schemas.timestamps import parse_timestamp_us

STUDIES = "deploy/simulated-studies.toml"


def write_input(path: Path, events: int, seed: int = 42) -> int:
    lines = 0
    with path.open("wb") as handle:
        for _kind, value in Simulation(seed=seed, duplicate_rate=0.01, invalid_rate=0.001).events(
            3650 * 86_400_000_000
        ):
            handle.write(value + b"\n")
            lines += 1
            if lines >= events:
                break
    return lines


def floor_seconds(path: Path) -> float:
    started = time.perf_counter()
    loads = orjson.loads
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                # The few invalid lines cost about the same to reject.
                with contextlib.suppress(orjson.JSONDecodeError):
                    loads(line)
    return time.perf_counter() - started


def _best_replay(
    source: Path, out: Path, as_of: str, rounds: int = 2, jobs: int | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, dict]:
    """Best wall time of ``rounds`` replays (noise only ever slows a run), and its run.json.

    ``jobs``: None for the command's default (by input size and cores). ``env``: the
    replay's environment (e.g. the engine from source: EDC_LATENCY_INTERPRETED=1)."""
    elapsed = float("inf")
    run: dict = {}
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "agents.cli", "replay", "--input", str(source), "--quiet",
             "--as-of", as_of, "--config", STUDIES, "--out", str(out),
             *(["--jobs", str(jobs)] if jobs is not None else [])],
            check=True, env=env,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        if seconds < elapsed:
            elapsed = seconds
            run = json.loads((out / "run.json").read_text())
    return elapsed, run


def replay_file(events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="edc-bench-") as tmp:
        source = Path(tmp) / "events.jsonl"
        lines = write_input(source, events)
        floor = min(floor_seconds(source) for _ in range(2))
        elapsed, run = _best_replay(source, Path(tmp) / "out", "2027-01-01T00:00:00Z")
    return {
        "lines": lines,
        "jobs": run.get("jobs", 1),
        "replay_events_per_s": round(lines / elapsed),
        "floor_read_and_loads_per_s": round(lines / floor),
        "ratio_to_floor": round(floor / elapsed, 3),
        "peak_rss_mib": run["peak_rss_mib"],
        "bytes_rss_per_event": round(run["peak_rss_mib"] * 1024 * 1024 / lines),
    }


def replay_realistic(lines_wanted: int) -> dict[str, object]:
    """The realistic mix: the replay beside the DuckDB peer, after checking they agree."""
    with tempfile.TemporaryDirectory(prefix="edc-bench-") as tmp:
        source = Path(tmp) / "audit.jsonl"
        started = time.perf_counter()
        lines = write_realistic_mix(source, lines_wanted, stages=True)  # with stage events
        generated = time.perf_counter() - started
        floor = min(floor_seconds(source) for _ in range(2))
        out = Path(tmp) / "out"
        elapsed, run = _best_replay(source, out, REALISTIC_AS_OF)
        # One engine, for what the split over processes brings (one round: indicative).
        one_engine, one_run = _best_replay(source, Path(tmp) / "one", REALISTIC_AS_OF, 1, jobs=1)
        # The same replay with every module from its source (one round: indicative).
        interpreted, _ = _best_replay(
            source, Path(tmp) / "interpreted", REALISTIC_AS_OF, 1,
            env={**os.environ, INTERPRETED_ENV: "1"},
        )  # fmt: skip
        settings = load_settings(STUDIES)
        as_of_us = parse_timestamp_us(REALISTIC_AS_OF)
        peer_seconds = float("inf")
        for _ in range(2):
            figures, seconds = run_peer(source, as_of_us, settings)
            peer_seconds = min(peer_seconds, seconds)
        # Fails the bench loudly (Disagreement) before any ratio is reported.
        agreed = check_agreement(figures, json.loads((out / "report.json").read_text()))
    return {
        "lines": lines,
        "generate_seconds": round(generated, 2),
        "peer_agrees_on_figures": agreed,
        "jobs": run.get("jobs", 1),
        "replay_seconds": round(elapsed, 2),
        "replay_jobs_1_seconds": round(one_engine, 2),
        "peak_rss_mib_jobs_1": one_run["peak_rss_mib"],
        "replay_interpreted_seconds": round(interpreted, 2),
        "ratio_interpreted_speed_to_peer": round(peer_seconds / interpreted, 3),
        "peer_seconds": round(peer_seconds, 2),
        "ratio_replay_speed_to_peer": round(peer_seconds / elapsed, 3),
        "replay_lines_per_s": round(lines / elapsed),
        "floor_read_and_loads_per_s": round(lines / floor),
        "ratio_to_floor": round(floor / elapsed, 3),
        "peak_rss_mib": run["peak_rss_mib"],
        "bytes_rss_per_line": round(run["peak_rss_mib"] * 1024 * 1024 / lines),
    }
