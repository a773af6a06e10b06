"""Run a live worker: consume the input topics, keep the figures, serve /metrics.

Start several with the same settings to scale out: they share the consumer
group and split the shard partitions between them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from agents.errors import StopNotFinished
from agents.settings import ConfigurationError, Settings, load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML settings file (else EDC_LATENCY_CONFIG)")
    parser.add_argument("--metrics-port", type=int, help="override EDC_LATENCY_METRICS_PORT")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, metrics_port=args.metrics_port)
    if not settings.bootstrap_servers:
        raise ConfigurationError(
            "no broker: set KAFKA_BOOTSTRAP_SERVERS (or EDC_LATENCY_BOOTSTRAP_SERVERS); "
            "`edc-latency demo` starts an embedded one"
        )
    from agents.kafka.broker_check import check_broker

    check_broker(settings)
    serve(settings)
    return 0


def serve(settings: Settings) -> None:
    import faust

    from agents.kafka.topics import ensure_topics, worker_topics
    from agents.live.app import LiveApp
    from agents.release import core_compiled
    from schemas.compiled import summary

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(ensure_topics(settings.kafka_client_options(), worker_topics(settings)))
    if not core_compiled():
        # Once per process: the figures are the same, the throughput is not (BENCHMARKS.md).
        logging.getLogger(__name__).warning("the engine runs interpreted: %s", summary())
    live = LiveApp(settings)
    deadline_s = 0.8 * settings.session_timeout

    class BoundedStopWorker(faust.Worker):  # type: ignore[misc]
        """A stop that cannot finish (broker unreachable: the producer's flush retries
        forever) ends the process anyway, before the group would drop it."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            # Faust's terminal spinner turns the root logger to DEBUG so that it spins on
            # every record: each debug call of aiokafka and Faust then builds a LogRecord
            # that the WARNING handler drops (~3% of the worker's samples in py-spy).
            self.spinner = None

        def _on_sigterm(self) -> None:
            _exit_after(deadline_s)
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            _exit_after(deadline_s)
            super()._on_sigint()

    BoundedStopWorker(live.app, loglevel="WARNING", quiet=True).execute_from_commandline()


def _exit_after(seconds: float) -> None:
    import os
    import threading

    def give_up() -> None:
        error = StopNotFinished(
            f"not finished within {seconds:.0f}s (broker unreachable?): exiting without a "
            "clean leave; the group reassigns the shards after the session timeout"
        )
        logging.getLogger(__name__).error(
            "stopping: %s (exit status %d)", error.line(), error.exit_status
        )
        os._exit(error.exit_status)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
