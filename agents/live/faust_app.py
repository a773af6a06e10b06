"""The Faust app of a worker, configured from the settings: brokers, credentials, group timing."""

from __future__ import annotations

from typing import Any

import faust

from agents.live.tunables import COMMIT_INTERVAL_S, PRODUCER_LINGER_MS
from agents.settings import Settings


def faust_app(settings: Settings, datadir: str) -> faust.App:
    return faust.App(
        settings.app_id,
        datadir=datadir,
        broker=[f"kafka://{server}" for server in (settings.bootstrap_servers or "").split(",")],
        broker_credentials=_credentials(settings),
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.shard_partitions,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=PRODUCER_LINGER_MS,
        producer_max_request_size=settings.producer_max_request_size,
        producer_compression_type=settings.compression_type,
        broker_commit_interval=COMMIT_INTERVAL_S,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(1.0, settings.session_timeout / 4),
        broker_rebalance_timeout=2 * settings.session_timeout,
    )


def _credentials(settings: Settings) -> Any:
    if settings.sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password_value,
            mechanism=settings.sasl_mechanism,
            ssl_context=settings.kafka_client_options().get("ssl_context"),
        )
    if settings.security_protocol == "SSL":
        return faust.SSLCredentials(settings.kafka_client_options()["ssl_context"])
    return None
