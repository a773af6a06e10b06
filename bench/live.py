"""The live worker on the embedded broker: throughput against bare Faust, freshness, recovery."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from agents.harness.broker import produce_all
from agents.harness.processes import WorkerSubprocess, input_topics, isolated_env, scrape, total
from agents.kafka.topics import ensure_topics
from agents.sim.simulator import Simulation
from schemas import Rejection, parse_event
from schemas.timestamps import format_timestamp

BARE_FAUST = Path(__file__).with_name("bare_faust.py")
# The throughput input: the simulator's mix, dated years back. From its default start
# (2026-01-05) 100k messages reach mid-December 2026, so on a run made before then the
# router rightly dead-letters the newest as further than max_future_skew ahead of the
# clock (4.3% of them on 2026-11-29: a warning line and a dead-letter record each), and
# the figure would time a date-dependent share of the dead-letter path.
THROUGHPUT_START_US = 1_578_268_800_000_000  # 2020-01-06T00:00:00Z, a Monday like the default


def simulated_messages(count: int) -> list[tuple[str, bytes]]:
    """The first ``count`` messages of the simulator (seed 2), all dated before today."""
    simulation = Simulation(seed=2, start_us=THROUGHPUT_START_US)
    messages = list(itertools.islice(simulation.events(3650 * 86_400_000_000), count))
    newest_us = max(
        (e.time_us for _kind, v in messages if not isinstance(e := parse_event(v), Rejection)),
        default=0,
    )
    if newest_us > time.time() * 1_000_000:
        raise ValueError(f"{count} simulated messages reach past today: lower EDC_BENCH_SCALE")
    return messages


def simulated_studies() -> str:
    """The ``studies`` setting for the simulated input (as ``edc-latency demo`` gives it): its
    stages, schedules and SLAs. Without it the worker dead-letters every stage event (30% of
    the mix, each with a log line and a dead-letter record), and the figure times that path."""
    return json.dumps(Simulation(seed=2, start_us=THROUGHPUT_START_US).study_configs_settings())


def _env(bootstrap: str, **extra: str) -> dict[str, str]:
    return isolated_env(bootstrap, "bench", EDC_LATENCY_CLOCK="event", **extra)


async def _produce(
    bootstrap: str, topics: dict[str, str], messages: list[tuple[str, bytes]]
) -> None:
    await ensure_topics({"bootstrap_servers": bootstrap}, dict.fromkeys(topics.values(), 4))
    await produce_all(bootstrap, topics, messages, linger_ms=20, max_batch_size=1 << 20)


def _processed(url: str) -> float:
    try:
        return total(scrape(url), "edc_messages_total")
    except OSError:
        return 0.0


def throughput(
    bootstrap: str, messages: list[tuple[str, bytes]], rounds: int = 2
) -> dict[str, float]:
    """Messages/s from pre-filled topics through the agents to the metrics, beside bare Faust.

    The two are measured alternately, `rounds` times each on topics of their own, and
    the best of each is compared: on a shared machine a neighbour's burst slows one
    run, never speeds it up, so the best run is the least disturbed one.
    """
    bare_rates: list[float] = []
    worker_rates: list[float] = []
    for _ in range(rounds):
        bare_rates.append(_bare_faust_rate(bootstrap, messages))
        worker_rates.append(_worker_rate(bootstrap, messages))
    bare_rate, rate = max(bare_rates), max(worker_rates)
    return {
        "messages": len(messages),
        "worker_msg_per_s": round(rate),
        "bare_faust_msg_per_s": round(bare_rate),
        "ratio_to_bare_faust": round(rate / bare_rate, 3) if bare_rate else 0.0,
        "worker_runs_msg_per_s": [round(r) for r in worker_rates],
        "bare_faust_runs_msg_per_s": [round(r) for r in bare_rates],
        "state_writes_per_event": 0.0,  # checkpoints are per interval, not per event
    }


def _bare_faust_rate(bootstrap: str, messages: list[tuple[str, bytes]]) -> float:
    """Floor: a bare Faust agent that only counts the same messages, same broker, same run."""
    env = _env(bootstrap)
    asyncio.run(_produce(bootstrap, input_topics(env), messages))
    bare = subprocess.run(
        [sys.executable, str(BARE_FAUST), bootstrap, ",".join(input_topics(env).values()),
         str(len(messages))],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    # Faust's worker routes print() through its logger, so look in both streams.
    found = [line for line in (bare.stdout + bare.stderr).splitlines() if "msg_per_s" in line]
    if not found:
        raise RuntimeError(f"bare Faust floor failed: {bare.stdout[-500:]} {bare.stderr[-500:]}")
    return float(json.loads(found[-1][found[-1].index("{") :])["msg_per_s"])


def _worker_rate(bootstrap: str, messages: list[tuple[str, bytes]]) -> float:
    """The worker over the same messages: timed from the first to the last one on /metrics."""
    env = _env(bootstrap, EDC_LATENCY_STUDIES=simulated_studies())
    asyncio.run(_produce(bootstrap, input_topics(env), messages))
    n = len(messages)
    with WorkerSubprocess(env) as worker:
        started = first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = _processed(worker.url)
            if done and first is None:
                first, started = done, time.monotonic()
            if done >= n:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the worker processed {done:.0f} of {n} messages in 600 s")
        elapsed = time.monotonic() - (started or time.monotonic())
    return (n - (first or 0)) / elapsed if elapsed > 0 else 0.0


def freshness(bootstrap: str, seconds: float = 20.0, rate: int = 1000) -> dict[str, float]:
    """Delay from producing a publish to its latency observation on /metrics, at a steady rate."""
    env = _env(bootstrap, EDC_LATENCY_SHARD_PARTITIONS="4")
    topics = input_topics(env)
    simulation = Simulation(seed=21)
    background = iter(simulation.events(400 * 86_400_000_000))
    delays: list[float] = []

    async def drive(url: str) -> None:
        await ensure_topics({"bootstrap_servers": bootstrap}, dict.fromkeys(topics.values(), 4))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        try:
            marker_time = simulation.start_us
            end = time.monotonic() + seconds
            tick = 0
            while time.monotonic() < end:
                tick_start = time.monotonic()
                for _ in range(rate // 10):
                    kind, value = next(background)
                    await producer.send(topics[kind], value)
                tick += 1
                if tick % 5 == 0:  # a marker twice a second: an entry, then its publish
                    marker = f"marker-{tick}"
                    await producer.send_and_wait(topics["entries"], orjson.dumps({
                        "schema": "edc.entry/1", "event_id": marker, "study_id": "FRESH",
                        "site_id": "s", "subject_id": "x", "form_id": "f", "record_id": marker,
                        "entered_at": format_timestamp(marker_time),
                    }))  # fmt: skip
                    await asyncio.sleep(0.2)
                    before = await asyncio.to_thread(_count, url)
                    sent = time.monotonic()
                    await producer.send_and_wait(topics["publishes"], orjson.dumps({
                        "schema": "dashboard.publish/1", "event_id": f"p-{marker}",
                        "study_id": "FRESH", "published_at": format_timestamp(marker_time + 60_000_000),
                        "record_ids": [marker],
                    }))  # fmt: skip
                    while time.monotonic() - sent < 5:
                        if await asyncio.to_thread(_count, url) > before:
                            delays.append(time.monotonic() - sent)
                            break
                        await asyncio.sleep(0.01)
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick_start)))
        finally:
            await producer.stop()

    with WorkerSubprocess(env) as worker:
        worker.wait_ready()
        asyncio.run(drive(worker.url))
    delays.sort()
    pick = lambda p: delays[max(0, -(-p * len(delays) // 100) - 1)] if delays else None  # noqa: E731
    return {
        "events_per_s": rate,
        "samples": len(delays),
        "p50_s": round(pick(50), 3) if delays else None,
        "p99_s": round(pick(99), 3) if delays else None,
        "target_p99_s": 1.0,
    }


def _count(url: str) -> float:
    try:
        return total(scrape(url, 2.0), "edc_data_latency_seconds_count", study="FRESH")
    except OSError:
        return 0.0


def recovery(bootstrap: str, pending: int) -> dict[str, float]:
    """Time for a killed worker's replacement to resume with `pending` entries in its state."""
    env = _env(bootstrap, EDC_LATENCY_CHECKPOINT_INTERVAL="5s", EDC_LATENCY_RETENTION="3650d")
    start = 1_767_225_600_000_000
    messages = [
        (
            "entries",
            orjson.dumps(
                {
                    "schema": "edc.entry/1",
                    "event_id": f"e{i}",
                    "study_id": f"S{i % 20}",
                    "site_id": f"site-{i % 100}",
                    "subject_id": "x",
                    "form_id": "f",
                    "record_id": f"r{i}",
                    "entered_at": format_timestamp(start + i * 1_000_000),
                }
            ),
        )
        for i in range(pending)
    ]
    asyncio.run(_produce(bootstrap, input_topics(env), messages))
    first = WorkerSubprocess(env).start()
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                if total(scrape(first.url), "edc_backlog_entries") >= pending:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        time.sleep(12)  # at least one checkpoint of every shard after the last event
        first.kill()
    finally:
        first.close()
    restarted = time.monotonic()
    with WorkerSubprocess(env) as second:
        while time.monotonic() - restarted < 900:
            try:
                if total(scrape(second.url), "edc_backlog_entries") >= pending:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        resumed = time.monotonic() - restarted
    return {
        "pending_entries": pending,
        "resume_s": round(resumed, 2),
        "target_s": 60.0,
        "note_resume_includes_group_join_s": "the session timeout (10 s) of the killed member",
    }


if __name__ == "__main__":  # pragma: no cover - manual use
    print(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
