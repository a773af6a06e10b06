"""The future-skew bound judged on each message's own timestamp (issue 21).

Messages whose Kafka timestamp (CreateTime here: the topics keep the default) is in
January 2026 carry events dated within and beyond max_future_skew of it. What the
worker dead-letters, the replay of the export and the replay of the topics refuse
the same messages with the same words, for any --as-of; nothing here depends on
the day the test runs (the timestamps are in the past, so the worker's wall-clock
cap never decides).
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.cli import main
from agents.harness.processes import WorkerSubprocess, input_topics, scrape, total
from agents.harness.waiting import wait_for
from schemas import format_timestamp
from tests.integration.test_live_pipeline import read_all
from tests.integration.workload import BASE_US, HOUR_US

pytestmark = pytest.mark.integration
SKEW_US = HOUR_US  # the default max_future_skew


def _entry(n: int, at_us: int) -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": f"e-{n}", "study_id": "ONC-1", "site_id": "s1",
        "subject_id": "x", "form_id": "f", "record_id": f"r-{n}",
        "entered_at": format_timestamp(at_us),
    })  # fmt: skip


def _messages() -> list[tuple[int, bytes]]:
    """(timestamp in ms, value): at the bound, 1 µs past it, hours and decades past it."""
    out = []
    for n in range(40):
        stamp_us = BASE_US + n * 6 * HOUR_US
        ahead = (0, SKEW_US, SKEW_US + 1, 3 * HOUR_US, 36 * 365 * 24 * HOUR_US, -HOUR_US)[n % 6]
        out.append((stamp_us // 1000, _entry(n, stamp_us + ahead)))
    return out


async def _produce(bootstrap: str, topic: str, messages: list[tuple[int, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for stamp_ms, value in messages:
            await producer.send(topic, value, timestamp_ms=stamp_ms)
        await producer.flush()
    finally:
        await producer.stop()


def _refused_in_replay(report: dict, export_lines: list[bytes]) -> set[tuple[str, int, int, str]]:
    out = set()
    for item in report["invalid"]:
        record = orjson.loads(export_lines[item["line"] - 1])
        out.add((record["topic"], record["partition"], record["offset"], item["reason"]))
    return out


def test_worker_export_and_both_replays_refuse_the_same_events_with_the_same_words(
    pipeline_env, tmp_path, monkeypatch
):
    import json

    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    messages = _messages()
    far = sum(1 for n in range(40) if n % 6 in (2, 3, 4))
    with WorkerSubprocess(pipeline_env) as worker:
        worker.wait_ready()
        asyncio.run(_produce(bootstrap, input_topics(pipeline_env)["entries"], messages))
        wait_for(lambda: total(scrape(worker.url), "edc_dead_letters_total") >= far, 90)
    dead = asyncio.run(read_all(bootstrap, pipeline_env["EDC_LATENCY_TOPIC_DEADLETTER"]))
    live = {
        (h["source_topic"].decode(), int(h["source_partition"]), int(h["source_offset"]),
         h["reason"].decode())
        for _v, h in dead
    }  # fmt: skip
    assert len(live) == far
    assert {reason.split(" (")[0] for *_where, reason in live} == {
        "event time: more than max_future_skew ahead of its message's timestamp"
    }
    for name, value in pipeline_env.items():
        monkeypatch.setenv(name, value)
    export = tmp_path / "audit.jsonl"
    assert main(["export", "--out", str(export)]) == 0
    lines = export.read_bytes().splitlines()
    for as_of in ("2025-06-01T00:00:00Z", "2026-01-05T12:00:00Z", "2099-12-31T00:00:00Z"):
        for how, source in (("file", ["--input", str(export)]), ("topics", ["--from-topics"])):
            for jobs in (["--jobs", "1"], ["--jobs", "2"]) if how == "file" else ([],):
                out = tmp_path / f"{how}-{as_of[:10]}-{''.join(jobs)}"
                argv = ["replay", *source, "--as-of", as_of, "--out", str(out), "--quiet", *jobs]
                assert main(argv) == 0
                report = json.loads((out / "report.json").read_text())
                assert _refused_in_replay(report, lines) == live, (how, as_of, jobs)
                assert report["input"]["event_time_bound"].startswith("event times more than")
