"""Every compression codec a sponsor's producer may use, on every read path, on a real broker.

The producer here behaves like a sponsor's: it compresses, keys its messages and
spreads them over several partitions. The worker writes its own topics with the
same codec.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.harness.processes import WorkerSubprocess, input_topics
from agents.harness.waiting import wait_for
from agents.kafka.codecs import CODECS
from agents.kafka.topics import ensure_topics
from agents.settings import load_settings
from tests.integration.both_replays import export_and_replay_both_ways
from tests.integration.test_live_pipeline import wait_for_figures
from tests.integration.workload import engine_figures, expected_engine, workload

pytestmark = pytest.mark.integration
AS_OF = "2026-01-12T00:00:00Z"


def sponsor_key(value: bytes) -> bytes:
    try:
        return str(orjson.loads(value).get("study_id", "")).encode()
    except (orjson.JSONDecodeError, AttributeError):
        return b"unparsable"


async def produce_compressed(
    bootstrap: str, topics: dict[str, str], messages: list[tuple[str, bytes]], codec: str
) -> None:
    await ensure_topics({"bootstrap_servers": bootstrap}, dict.fromkeys(topics.values(), 3))
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type=codec, linger_ms=20, acks="all"
    )
    await producer.start()
    try:
        for kind, value in messages:
            await producer.send(topics[kind], value, key=sponsor_key(value))
        await producer.flush()
    finally:
        await producer.stop()


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_input_gives_the_engines_figures_live_in_replay_and_export(
    codec, pipeline_env, monkeypatch, tmp_path
):
    env = {**pipeline_env, "EDC_LATENCY_COMPRESSION": codec}
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    messages = workload(seed=11)
    asyncio.run(produce_compressed(bootstrap, input_topics(env), messages, codec))
    expected = engine_figures(expected_engine(messages, load_settings().engine_config()))
    with WorkerSubprocess(env) as worker:
        worker.wait_ready()
        want, got = wait_for_figures([worker], expected)
        assert got == want, worker.log_tail()

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    export, report = export_and_replay_both_ways(tmp_path, "--as-of", AS_OF)
    assert len(export.read_bytes().splitlines()) == len(messages) + 1  # + the format line
    assert report["input"]["lines"] == len(messages) + 1  # + the format line


# A producer whose lz4 output is garbage: the batch is well-formed (valid CRC), its
# payload is not lz4. Run in a child so the patch stays out of the test process.
BROKEN_PRODUCER = """
import asyncio, sys
import aiokafka.producer.message_accumulator as accumulator
import aiokafka.record.default_records as records
records.lz4_encode = lambda data: b"not lz4"  # shorter than the data, so it is used
accumulator.DefaultRecordBatchBuilder = records._DefaultRecordBatchBuilderPy
from aiokafka import AIOKafkaProducer

async def main(bootstrap, topic):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type="lz4")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b" " * 500, key=b"k", partition=0)
    finally:
        await producer.stop()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_a_batch_no_codec_decodes_stops_the_worker_and_the_export_with_one_line(
    pipeline_env, monkeypatch, tmp_path
):
    env = pipeline_env
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = env["EDC_LATENCY_TOPIC_ENTRIES"]
    asyncio.run(ensure_topics({"bootstrap_servers": bootstrap}, {topic: 1}))
    subprocess.run([sys.executable, "-c", BROKEN_PRODUCER, bootstrap, topic], check=True)
    line = f"cannot decode the batch at {topic}[0]@0"
    with WorkerSubprocess(env) as worker:
        wait_for(lambda: worker.process.poll() is not None, 90)  # type: ignore[union-attr]
        assert worker.process.returncode == 3, worker.log_tail()  # type: ignore[union-attr]
        log = worker.log_path.read_text()  # type: ignore[union-attr]
        assert line in log
        assert "Traceback" not in log and "crash" not in log.lower()

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "export", "--out", str(tmp_path / "a.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    [only] = result.stderr.strip().splitlines()
    assert only.startswith(f"edc-latency export: input not decodable: {line}: ")
    assert "Traceback" not in result.stderr
