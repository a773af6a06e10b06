"""Faust's fetch wait, lowered (the group leave is the other private-name seam: group_leave.py).

Faust builds its worker consumer with a hard-coded ``fetch_max_wait_ms=1500``
and has no setting for it. A broker that holds a fetch for the full wait (the
embedded one does) then delays every hop by up to 1.5 s, and two hops separate
a publish from its metric. So we wrap Faust's private
``AIOKafkaConsumerThread._create_worker_consumer`` and set aiokafka's private
``AIOKafkaConsumer._fetch_max_wait_ms``, which ``AIOKafkaConsumer.start`` hands
to its fetcher. Both are private: pyproject.toml bounds faust-streaming and
aiokafka to the minor versions this was tested with, and
tests/agents/live/test_fetch_wait.py fails if either name moves or stops taking effect.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

PATCHED_ATTRIBUTE = "_fetch_max_wait_ms"  # of aiokafka.AIOKafkaConsumer, read by start()


def lower_worker_fetch_wait(max_wait_ms: int) -> None:
    """Make every Faust worker consumer created from now on wait at most ``max_wait_ms``."""
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "_edc_latency", False):
        return

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        if not hasattr(consumer, PATCHED_ATTRIBUTE):
            # Not worth refusing to start over: the worker still works, only slower.
            log.warning("aiokafka has no %s: fetches wait Faust's 1.5 s", PATCHED_ATTRIBUTE)
        setattr(consumer, PATCHED_ATTRIBUTE, max_wait_ms)
        return consumer

    create_worker_consumer._edc_latency = True  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer
