"""Run a live worker: consume the input topics, keep the figures, serve /metrics.

Start several with the same settings to scale out: they share the consumer
group and split the shard partitions between them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

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
    serve(settings)
    return 0


def serve(settings: Settings) -> None:
    import faust

    from agents.app import Worker
    from agents.broker import ensure_topics
    from agents.startup import check_brokers
    from agents.topics import worker_topics

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(check_brokers(settings))  # fails within startup_timeout, in one line
    asyncio.run(ensure_topics(settings.kafka_client_options(), worker_topics(settings)))
    worker = Worker(settings)
    faust.Worker(worker.app, loglevel="WARNING", quiet=True).execute_from_commandline()
