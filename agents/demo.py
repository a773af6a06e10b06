"""The live pipeline in one command: broker, worker and a simulated trial on accelerated time.

With no KAFKA_BOOTSTRAP_SERVERS it starts the embedded, memory-only Tansu
broker; with it set, it runs against that cluster (on topics named by the
settings). Prints the metrics URL and, every few seconds, a table per study.
Ctrl-C stops the simulator, the worker and the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType

from agents.errors import ConfigurationError
from agents.harness.broker import EmbeddedBroker, free_port
from agents.harness.processes import Samples, WorkerSubprocess, scrape
from agents.kafka.topics import ensure_topics, worker_topics
from agents.settings import load_settings, parse_duration_s
from schemas.timestamps import US_PER_SECOND, parse_timestamp_us

DEFAULT_START = "2026-01-05T00:00:00Z"
TICK_S = 0.25
WORKER_STOP_S = 6.0  # then SIGKILL: with the broker's stop, everything is gone within 10 s


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speed", default="2h", help="simulated time per wall second (default 2h)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument("--start", default=DEFAULT_START, help="simulated start (RFC 3339)")
    parser.add_argument(
        "--days", type=float, default=60.0, help="simulated days to run (default 60)"
    )
    parser.add_argument("--every", type=float, default=3.0, help="seconds between table refreshes")
    parser.add_argument("--config", help="TOML settings file (else EDC_LATENCY_CONFIG)")


def run(args: argparse.Namespace) -> int:
    from agents.sim.simulator import Simulation

    try:
        speed_s = parse_duration_s(args.speed)
    except ValueError as error:
        raise ConfigurationError(f"--speed: {error}") from None
    try:
        start_us = parse_timestamp_us(args.start)
    except ValueError as error:
        raise ConfigurationError(f"--start: {error}") from None
    settings = load_settings(args.config)
    simulation = Simulation(seed=args.seed, start_us=start_us)
    _stop_on_signals(signal.SIGTERM, signal.SIGHUP)
    with contextlib.ExitStack() as stack:
        bootstrap = settings.bootstrap_servers
        if not bootstrap:
            broker = stack.enter_context(EmbeddedBroker())
            bootstrap = broker.bootstrap_servers
            print(f"embedded broker (Tansu, memory only) on {bootstrap}")
        settings = settings.model_copy(update={"bootstrap_servers": bootstrap})
        asyncio.run(ensure_topics(settings.kafka_client_options(), worker_topics(settings)))
        port = settings.metrics_port if _port_free(settings.metrics_port) else free_port()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "EDC_LATENCY_CLOCK": "event",  # simulated time: ages follow the newest event
            "EDC_LATENCY_STUDIES": json.dumps(simulation.study_configs_settings()),
            # The vendor lines of the table need the vendor label (country for the
            # FSP scorecard dashboard, site for "visit to entry by site": the simulated
            # trial has 13 sites); whatever else the settings split by is kept.
            "EDC_LATENCY_BREAKDOWN": ",".join(
                dict.fromkeys((*settings.breakdown, "site", "vendor", "country"))
            ),
        }
        worker = stack.enter_context(WorkerSubprocess(env, settings.metrics_host, port))
        stack.callback(worker.stop, WORKER_STOP_S)  # runs before close(): a shorter bound
        print(f"metrics: {worker.url}   (Ctrl-C stops everything)")
        print("waiting for the worker to join its consumer group…", flush=True)
        worker.wait_ready(timeout_s=120)
        try:
            asyncio.run(_simulate(settings, simulation, worker, start_us, speed_s, args))
        except KeyboardInterrupt:
            print("\nstopping…", flush=True)
    print("stopped: worker and broker are gone")
    return 0


def _stop_on_signals(*signals: int) -> None:
    """Each signal stops the demo the way Ctrl-C does: the ExitStack stops what it started."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        for sig in (*signals, signal.SIGINT):  # a second signal must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        print(f"\n{signal.Signals(signum).name} received", flush=True)
        raise KeyboardInterrupt

    for sig in signals:
        signal.signal(sig, stop)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _simulate(settings, simulation, worker, start_us, speed_s, args) -> None:  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaProducer

    topics = {
        "entries": settings.topic_entries,
        "queries": settings.topic_queries,
        "publishes": settings.topic_publishes,
    }
    producer = AIOKafkaProducer(**settings.kafka_client_options(), linger_ms=20)
    await producer.start()
    try:
        sim_now = start_us
        end_us = start_us + int(args.days * 86400 * US_PER_SECOND)
        step = int(speed_s * TICK_S * US_PER_SECOND)
        next_table = time.monotonic() + args.every
        sent = 0
        while sim_now < end_us:
            tick_started = time.monotonic()
            for kind, value in simulation.events_between(sim_now, sim_now + step):
                await producer.send(topics[kind], value)
                sent += 1
            sim_now += step
            if time.monotonic() >= next_table:
                next_table += args.every
                await producer.flush()
                await asyncio.to_thread(_print_table, worker.url, sim_now, sent)
            await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - tick_started)))
        await producer.flush()
        print("simulation finished; the worker keeps serving metrics until Ctrl-C")
        while True:
            await asyncio.sleep(args.every)
            await asyncio.to_thread(_print_table, worker.url, sim_now, sent)
    finally:
        await producer.stop()


def _p95_bound(samples: Samples, study: str, label: str = "study") -> str:
    """An upper bound of the p95 latency of one study (or of one value of another label)."""
    buckets: dict[float, float] = {}
    for (name, labels), value in samples.items():
        lbl = dict(labels)
        if name == "edc_data_latency_seconds_bucket" and lbl.get(label) == study:
            le = float(lbl["le"])
            buckets[le] = buckets.get(le, 0) + value
    if not buckets or buckets.get(float("inf"), 0) == 0:
        return "—"
    target = 0.95 * buckets[float("inf")]
    for le in sorted(buckets):
        if buckets[le] >= target:
            return "> 28d" if le == float("inf") else f"≤ {_human(le)}"
    return "—"


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _rows(samples: Samples) -> Iterator[tuple[str, str, int, int, int, str]]:
    studies = sorted({dict(lbl)["study"] for (n, lbl) in samples if n == "edc_sla_seconds"})
    for study in studies:

        def summed(metric: str, study: str = study, **want: str) -> int:
            return int(
                sum(
                    v
                    for (n, lbl), v in samples.items()
                    if n == metric
                    and dict(lbl).get("study") == study
                    and all(dict(lbl).get(k) == w for k, w in want.items())
                )
            )

        yield (
            study,
            _p95_bound(samples, study),
            summed("edc_backlog_entries"),
            summed("edc_backlog_overdue_entries"),
            summed("edc_queries_open", age_bucket=">30d"),
            # Entries that miss the SLA before the next scheduled publish (EdcPublishNow).
            _certain_breaches(samples, study),
        )


def _certain_breaches(samples: Samples, study: str) -> str:
    """The study's certain breaches, and ``page`` with the dashboards where EdcPublishNow's
    condition holds (at least the study's edc_certain_breach_page_min). The alert's ``for``
    runs on Prometheus's wall clock, which the demo's accelerated time does not speed up."""
    certain: dict[str, float] = {}
    minimum: dict[str, float] = {}
    for (name, labels), value in samples.items():
        label = dict(labels)
        if label.get("study") != study:
            continue
        if name == "edc_certain_breaches_entries":
            certain[label["dashboard"]] = certain.get(label["dashboard"], 0) + value
        elif name == "edc_certain_breach_page_min":
            minimum[label["dashboard"]] = value
    paging = sorted(d for d, count in certain.items() if d in minimum and count >= minimum[d])
    total = int(sum(certain.values()))
    return f"{total} page: {','.join(paging)}" if paging else str(total)


def _vendor_rows(samples: Samples) -> Iterator[tuple[str, str, str, int, int, int]]:
    """One line per vendor over all studies: the FSP scorecard in brief (needs the vendor label)."""
    vendors = sorted(
        {dict(lbl).get("vendor", "") for (n, lbl) in samples if n == "edc_backlog_entries"}
    )
    for vendor in vendors:

        def summed(metric: str, vendor: str = vendor, **want: str) -> int:
            return int(
                sum(
                    v
                    for (n, lbl), v in samples.items()
                    if n == metric
                    and dict(lbl).get("vendor", "") == vendor
                    and all(dict(lbl).get(k) == w for k, w in want.items())
                )
            )

        within = summed("edc_entries_published_within_sla_total")
        over = summed("edc_entries_over_sla_total") - summed("edc_entries_over_sla_withdrawn_total")
        share = f"{100 * within / (within + over):.1f}%" if within + over else "—"
        yield (
            vendor or "unassigned",
            _p95_bound(samples, vendor, label="vendor"),
            share,
            summed("edc_backlog_entries"),
            summed("edc_backlog_overdue_entries"),
            summed("edc_queries_open", age_bucket=">30d"),
        )


def _print_table(url: str, sim_now_us: int, sent: int) -> None:
    from schemas.timestamps import format_timestamp

    try:
        samples = scrape(url)
    except OSError as error:
        print(f"(metrics not reachable: {error})", file=sys.stderr)
        return
    print(f"\nsimulated time {format_timestamp(sim_now_us)}   messages sent {sent}")
    print(f"{'study':<12} {'p95 latency':>12} {'backlog':>8} {'overdue':>8} {'queries >30d':>13}"
          f" {'certain breaches':>22}")  # fmt: skip
    for study, p95, backlog, overdue, old_queries, certain in _rows(samples):
        print(f"{study:<12} {p95:>12} {backlog:>8} {overdue:>8} {old_queries:>13} {certain:>22}")
    print(f"{'vendor':<12} {'p95 latency':>12} {'backlog':>8} {'overdue':>8} {'queries >30d':>13}"
          f" {'within SLA':>11}")  # fmt: skip
    for vendor, p95, share, backlog, overdue, old_queries in _vendor_rows(samples):
        print(f"{vendor:<12} {p95:>12} {backlog:>8} {overdue:>8} {old_queries:>13} {share:>11}")
    stages = list(_stage_rows(samples))
    if stages:  # where latency accrues: the slow stage and its owner
        print(f"{'study/stage':<22} {'owner':<10} {'mean':>8} {'waiting':>8} {'breaches':>9}")
        for name, owner, mean, waiting, charged in stages:
            print(f"{name:<22} {owner:<10} {mean:>8} {waiting:>8} {charged:>9}")
    sys.stdout.flush()


def _stage_rows(samples: Samples) -> Iterator[tuple[str, str, str, int, int]]:
    """One line per pipeline stage: its owner, mean duration, entries waiting in it, breaches
    charged to it (edc_stage_*; their labels come from the configuration)."""
    rows: dict[tuple[str, str, str], dict[str, float | str]] = {}
    for (name, labels), value in samples.items():
        if not name.startswith("edc_stage_") or name.endswith("_bucket"):
            continue
        lbl = dict(labels)
        row = rows.setdefault((lbl["study"], lbl["dashboard"], lbl["stage"]), {})
        row[name] = float(row.get(name, 0.0)) + value  # type: ignore[arg-type]
        if "owner" in lbl:
            row["owner"] = lbl["owner"]
    for (study, dashboard, stage), row in rows.items():
        count = float(row.get("edc_stage_duration_seconds_count", 0.0))
        total = float(row.get("edc_stage_duration_seconds_sum", 0.0))
        mean = f"{total / count / 3600:.1f} h" if count else "—"
        yield (
            f"{study}/{stage}" if dashboard == "default" else f"{study}/{dashboard}/{stage}",
            str(row.get("owner", "")),
            mean,
            int(float(row.get("edc_stage_pending_entries", 0.0))),
            int(float(row.get("edc_stage_breaches_charged", 0.0))),
        )
    slow = _sites_over_high_visit_to_entry(samples)
    if slow:
        print("sites entering visits late (entries over the high visit-to-entry threshold): "
              + ", ".join(f"{site} {count}" for site, count in slow))  # fmt: skip
    sys.stdout.flush()


def _sites_over_high_visit_to_entry(samples: Samples) -> list[tuple[str, int]]:
    """Sites with entries over the high visit-to-entry threshold, most first (needs the site label)."""
    counts: dict[str, int] = {}
    for (name, labels), value in samples.items():
        lbl = dict(labels)
        if name == "edc_visit_to_entry_over_threshold_total" and lbl.get("level") == "high":
            site = lbl.get("site", "")
            counts[site] = counts.get(site, 0) + int(value)
    return sorted(((s or "unassigned", n) for s, n in counts.items() if n), key=lambda x: -x[1])
