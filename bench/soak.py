"""`make soak`: the live worker for 10 minutes at 1,000 events/s from the simulator, on the
embedded broker, with retention pruning on at the default 7 days (event clock,
simulated years go by). Prints the
worker's RSS at minutes 2 and 10 (goal: growth under 10%) and compares its final figures
with the engine fed the same events. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaProducer

from agents.harness.broker import EmbeddedBroker
from agents.harness.processes import WorkerSubprocess, input_topics, isolated_env, scrape
from agents.kafka.topics import ensure_topics
from agents.settings import load_settings
from agents.sim.simulator import Simulation
from schemas import Rejection, parse_event
from schemas.timestamps import US_PER_SECOND
from streams import Engine
from tests.integration.workload import engine_figures, scraped_figures

TICK_S = 0.1
# About 4 simulated days pass per wall second, and the worker reads the four input
# partitions in another order than they were written, by up to a few seconds (up to
# about two simulated weeks). The shards' horizon follows the low watermark of their
# inputs (docs/design.md, "Retention"), so the default 7-day retention covers that
# reordering, and 10 minutes still prune about 4 simulated years. (Before issue 21
# this ran at 90 days: at 7, late-data matches differed from the single engine's.)
# Simulated time starts ten years back: the worker believes no event dated after its
# messages' timestamps (today, as produced here) + max_future_skew, and 10 minutes
# cover about 6.6 simulated years.
SOAK_START_US = 1_451_865_600_000_000  # 2016-01-04T00:00:00Z, a Monday like the default


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _endless(simulation: Simulation) -> Iterator[tuple[str, bytes]]:
    day_us = 86_400 * US_PER_SECOND
    start = simulation.start_us
    while True:  # a simulated day at a time: the simulator generates up to the window's end
        yield from simulation.events_between(start, start + day_us)
        start += day_us


async def produce(
    bootstrap: str, topics: dict[str, str], simulation: Simulation, engine: Engine,
    rate: float, seconds: float, pid: int, marks: dict[int, float],
) -> int:  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, compression_type="gzip")
    await producer.start()
    events = _endless(simulation)
    sent = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(rate * (elapsed + TICK_S))
            while sent < due:
                kind, value = next(events)
                await producer.send(topics[kind], value)
                event = parse_event(value)
                if not isinstance(event, Rejection):
                    engine.apply(event)
                sent += 1
            minute = int(elapsed // 60)
            if minute not in marks:
                marks[minute] = rss_mib(pid)
                print(f"minute {minute}: worker RSS {marks[minute]:.1f} MiB, {sent} sent", flush=True)
            await asyncio.sleep(max(0.0, started + elapsed + TICK_S - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    args = parser.parse_args(argv)
    simulation = Simulation(
        seed=3, start_us=SOAK_START_US, duplicate_rate=0.01, invalid_rate=0.001
    )
    with EmbeddedBroker() as broker:
        env = isolated_env(
            broker.bootstrap_servers, "soak",
            EDC_LATENCY_CLOCK="event",
            EDC_LATENCY_STUDIES=json.dumps(simulation.study_configs_settings()),
        )  # fmt: skip
        os.environ.update(env)  # the engine below is configured exactly like the worker
        engine = Engine(load_settings().engine_config())
        topics = input_topics(env)
        asyncio.run(ensure_topics({"bootstrap_servers": broker.bootstrap_servers},
                                  dict.fromkeys(topics.values(), 4)))  # fmt: skip
        with WorkerSubprocess(env) as worker:
            worker.wait_ready(timeout_s=120)
            assert worker.process is not None
            marks: dict[int, float] = {}
            sent = asyncio.run(produce(
                broker.bootstrap_servers, topics, simulation, engine, args.rate,
                args.minutes * 60, worker.process.pid, marks,
            ))  # fmt: skip
            print(
                f"{sent} events sent in {args.minutes:g} min "
                f"({sent / (args.minutes * 60):.0f}/s); waiting for the worker",
                flush=True,
            )
            expected = engine_figures(engine)
            deadline = time.monotonic() + 120
            while True:
                scraped = scraped_figures([scrape(worker.url)])
                keys = sorted(set(expected) | set(scraped))
                differ = [k for k in keys if expected.get(k, 0) != scraped.get(k, 0)]
                if not differ or time.monotonic() > deadline:
                    break
                time.sleep(2)
            last = marks[int(args.minutes)] = rss_mib(worker.process.pid)
    first_minute = 2 if 2 in marks else min(marks)  # minute 2 unless the run is shorter
    first = marks[first_minute]
    growth = (last - first) / first * 100
    print(
        f"worker RSS minute {first_minute}: {first:.1f} MiB, at the end: {last:.1f} MiB, "
        f"growth {growth:+.1f}% (goal < 10%)"
    )
    if differ:
        print(f"figures differ from the engine on {len(differ)} of {len(keys)} series:")
        for key in differ[:20]:
            print(f"  {key}: worker {scraped.get(key, 0)} engine {expected.get(key, 0)}")
        return 1
    print(f"figures equal the engine's on all {len(keys)} series")
    return 0 if growth < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
