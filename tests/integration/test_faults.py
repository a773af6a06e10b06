"""Faults while work is in flight, on the embedded broker: the final figures equal the engine fed
the same events (nothing lost, nothing counted twice), and the logs say what happened.

- the broker paused (SIGSTOP) while events flow, until the worker says it is unreachable, then
  resumed;
- a worker SIGKILLed three times at seeded random points while it processes a stream;
- two workers, one SIGKILLed while the group rebalances to take in the other.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.harness.broker import EmbeddedBroker
from agents.harness.processes import WorkerSubprocess, input_topics, isolated_env, scrape, total
from agents.harness.waiting import settled, wait_for
from agents.settings import load_settings
from tests.conftest import TEST_SESSION_TIMEOUT
from tests.integration.test_live_pipeline import wait_for_figures
from tests.integration.workload import engine_figures, expected_engine, workload

pytestmark = pytest.mark.integration
# The pause lasts until readiness and the log say the broker is unreachable: this long, and the
# probe's next look (a third of it) after that.
UNREACHABLE_AFTER_S = 5


class PacedProducer(threading.Thread):
    """Produces like a sponsor's client (gzip batches, keyed by study, several partitions),
    spread over ``seconds`` so that a fault lands while events flow."""

    def __init__(self, bootstrap: str, topics: dict[str, str], messages: list, seconds: float):
        super().__init__(daemon=True)
        self.bootstrap, self.topics, self.messages, self.seconds = (
            bootstrap, topics, messages, seconds,
        )  # fmt: skip
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as error:  # reported by finish()
            self.error = error

    async def _produce(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, compression_type="gzip", linger_ms=20
        )
        await producer.start()
        try:
            chunks = 20
            size = max(1, len(self.messages) // chunks)
            for start in range(0, len(self.messages), size):
                for kind, value in self.messages[start : start + size]:
                    await producer.send(self.topics[kind], value, key=_key(value))
                await asyncio.sleep(self.seconds / chunks)
            await producer.flush()
        finally:
            await producer.stop()

    def finish(self, timeout_s: float = 120) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), "the producer did not finish"
        if self.error is not None:
            raise self.error


def _key(value: bytes) -> bytes | None:
    try:
        study = orjson.loads(value).get("study_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return study.encode() if isinstance(study, str) else None


def _expected(messages: list) -> dict[str, float]:
    return engine_figures(expected_engine(messages, load_settings().engine_config()))


def test_the_broker_paused_while_events_flow(tmp_path):
    messages = workload(seed=51, entries=1200)
    with EmbeddedBroker() as broker:
        env = isolated_env(
            broker.bootstrap_servers, "edc-latency-fault",
            EDC_LATENCY_SHARD_PARTITIONS="4", EDC_LATENCY_CLOCK="event",
            EDC_LATENCY_CHECKPOINT_INTERVAL="1s",
            EDC_LATENCY_BROKER_UNREACHABLE_AFTER=f"{UNREACHABLE_AFTER_S}s",
            EDC_LATENCY_SESSION_TIMEOUT=TEST_SESSION_TIMEOUT,
        )  # fmt: skip
        with WorkerSubprocess(env) as worker:
            worker.wait_ready()
            producer = PacedProducer(broker.bootstrap_servers, input_topics(env), messages, 10)
            producer.start()
            # Events are flowing: part sent, part processed.
            counted_before = wait_for(lambda: total(scrape(worker.url), "edc_messages_total"), 60)
            assert broker.pid is not None and counted_before
            assert counted_before < len(messages) and producer.is_alive()
            broker_process_signal(broker.pid, signal.SIGSTOP)
            try:
                # Readiness says so while the broker is silent, and the log says what happened.
                reasons = settled(
                    lambda: worker.probe("/readyz")[1]["reasons"],
                    lambda now: (
                        any("broker unreachable" in r for r in now)  # type: ignore[union-attr]
                        and "broker not answering" in worker.log_path.read_text()
                    ),  # type: ignore[union-attr]
                    UNREACHABLE_AFTER_S * 6,
                )
                assert any("broker unreachable" in r for r in reasons), reasons  # type: ignore[union-attr]
            finally:
                broker_process_signal(broker.pid, signal.SIGCONT)
            producer.finish()
            want, got = wait_for_figures([worker], _expected(messages), timeout_s=150)
            assert got == want
            assert worker.process is not None and worker.process.poll() is None
            log = worker.log_path.read_text()  # type: ignore[union-attr]
            # What happened is in the log: the broker did not answer for a while.
            assert "broker not answering" in log and "broker answering again after" in log
            assert wait_for(lambda: worker.probe("/readyz")[0] == 200, 60), worker.probe("/readyz")


def broker_process_signal(pid: int, sig: signal.Signals) -> None:
    import os

    os.kill(pid, sig)


def test_a_worker_killed_three_times_while_processing(pipeline_env):
    rng = random.Random(61)
    messages = workload(seed=61, entries=1600)
    parts = [messages[i::4] for i in range(4)]  # four interleaved quarters, produced in turn
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    topics = input_topics(pipeline_env)
    produced: list = []
    for kill in range(3):
        worker = WorkerSubprocess(pipeline_env).start()
        try:
            worker.wait_ready(timeout_s=120)
            producer = PacedProducer(bootstrap, topics, parts[kill], 6)
            producer.start()
            # A seeded random point in the stream, once the worker processes it.
            wait_for(lambda url=worker.url: total(scrape(url), "edc_messages_total"), 60)
            time.sleep(rng.uniform(0.0, 3.0))
            counted = total(scrape(worker.url), "edc_messages_total")
            in_flight = producer.is_alive()
            worker.kill()
            producer.finish()
            produced += parts[kill]
            assert in_flight, f"kill {kill + 1}: the stream had ended; the worker was idle"
            assert counted > 0, f"kill {kill + 1}: the worker had not started processing"
        finally:
            worker.close()
    with WorkerSubprocess(pipeline_env) as last:
        last.wait_ready(timeout_s=120)
        producer = PacedProducer(bootstrap, topics, parts[3], 2)
        producer.start()
        producer.finish()
        want, got = wait_for_figures([last], _expected(produced + parts[3]), timeout_s=150)
        assert got == want
        assert "restored shards" in last.log_tail(40)


def test_two_workers_one_killed_during_a_rebalance(pipeline_env):
    messages = workload(seed=71, entries=1200)
    third = len(messages) // 3
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    topics = input_topics(pipeline_env)
    with WorkerSubprocess(pipeline_env) as a:
        a.wait_ready()
        PacedProducer(bootstrap, topics, messages[:third], 0).run()  # no fault: no pace
        want, got = wait_for_figures([a], _expected(messages[:third]))
        assert got == want
        with WorkerSubprocess(pipeline_env) as b:
            producer = PacedProducer(bootstrap, topics, messages[third : 2 * third], 6)
            producer.start()
            # b is joining: the group is rebalancing. a gave all its shards up at the start of
            # the rebalance (eager protocol) and owns none until it ends; b owns none yet. (b
            # serves /metrics only once assigned, and then owns none only while it restores:
            # too short a moment to catch since restores got faster.)
            def rebalancing() -> bool:
                if total(scrape(a.url, 1.0), "edc_worker_partitions") != 0:
                    return False
                try:
                    return total(scrape(b.url, 1.0), "edc_worker_partitions") == 0
                except OSError:  # b's endpoint is not up yet: b owns nothing
                    return True

            assert wait_for(rebalancing, 90), f"no rebalance seen: {b.log_tail()}"
            a.kill()
            producer.finish()
            PacedProducer(bootstrap, topics, messages[2 * third :], 0).run()
            want, got = wait_for_figures([b], _expected(messages), timeout_s=150)
            assert got == want
            assert total(scrape(b.url), "edc_worker_partitions") == 4
