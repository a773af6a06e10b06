"""The seam over Faust's and aiokafka's private names (agents/live/fetch_wait.py) still takes effect.

If an upgrade renames either name, this fails here instead of every hop of the
live pipeline silently waiting Faust's hard-coded 1.5 s again.
"""

from __future__ import annotations

import inspect
import uuid

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver

from agents.live.app import lower_fetch_wait
from agents.live.tunables import FETCH_MAX_WAIT_MS


def test_the_patched_names_exist():
    assert callable(getattr(driver.AIOKafkaConsumerThread, "_create_worker_consumer", None))
    # aiokafka keeps the constructor argument under this name and hands it to the fetcher.
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(
        aiokafka.AIOKafkaConsumer.__init__
    )
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(
        aiokafka.AIOKafkaConsumer.start
    )


async def test_the_worker_consumer_fetches_with_the_lowered_wait(kafka_bootstrap: str, tmp_path):
    lower_fetch_wait()
    app = faust.App(
        f"fetch-wait-{uuid.uuid4().hex[:8]}",
        broker=[f"kafka://{server}" for server in kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(tmp_path),
        web_enabled=False,
    )
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    await consumer.start()
    try:
        assert consumer._fetcher._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
    finally:
        await consumer.stop()
