"""Audit integrity on a real broker: coverage after removed data, chained exports, lossless export.

Removing an early segment: the embedded broker (Tansu 0.6.0, memory storage) answers
DeleteRecords by closing the connection (its storage says "not yet implemented") and
accepts but never applies retention.bytes/segment.bytes/retention.ms. ``remove_before``
therefore asks the broker first (a real Kafka honours it) and, when refused, makes the
broker's ListOffsets(earliest) answer for that partition what it would be after the
deletion: the export then really begins reading there. That one answer is the only
thing stood in for; every message is produced to and read from the broker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from agents.cli import main
from agents.harness.processes import input_topics
from agents.kafka.topics import ensure_topics
from schemas import Rejection, format_timestamp
from schemas.limits import parse_bounded
from streams import Engine

pytestmark = pytest.mark.integration
DAY_US = 86_400_000_000
BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
AS_OF = "2026-01-08T00:00:00Z"
COMMON = ["--as-of", AS_OF, "--config", "deploy/simulated-studies.toml", "--quiet"]


def entry(i: int, day: float) -> tuple[str, bytes, int]:
    at = BASE_US + int(day * DAY_US) + i * 1_000_000
    value = {
        "schema": "edc.entry/1", "event_id": f"e-{i}", "study_id": "ONC-301", "site_id": "s-1",
        "subject_id": f"subj-{i % 7}", "form_id": "vitals", "record_id": f"r-{i}",
        "entered_at": format_timestamp(at),
    }  # fmt: skip
    return "entries", orjson.dumps(value), at


def publish(i: int, day: float, records: list[str]) -> tuple[str, bytes, int]:
    at = BASE_US + int(day * DAY_US) + i * 1_000_000
    value = {
        "schema": "dashboard.publish/1", "event_id": f"p-{i}", "study_id": "ONC-301",
        "published_at": format_timestamp(at), "record_ids": records,
    }  # fmt: skip
    return "publishes", orjson.dumps(value), at


def days(first: int, last: int) -> list[tuple[str, bytes | None, int]]:
    """Entries of each day, published the next day; message timestamps = event times."""
    out: list[tuple[str, bytes | None, int]] = []
    for day in range(first, last + 1):
        ids = list(range(day * 100, day * 100 + 6))
        out.extend(entry(i, day + 0.1) for i in ids)
        out.append(publish(day * 100, day + 0.9, [f"r-{i}" for i in ids[:4]]))
    return out


@pytest.fixture
def topics(pipeline_env, monkeypatch):
    for name, value in pipeline_env.items():
        monkeypatch.setenv(name, value)
    names = input_topics(pipeline_env)
    bootstrap = pipeline_env["KAFKA_BOOTSTRAP_SERVERS"]
    asyncio.run(ensure_topics({"bootstrap_servers": bootstrap}, dict.fromkeys(names.values(), 1)))
    return bootstrap, names


def produce(bootstrap: str, names: dict[str, str], messages) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip")
        await producer.start()
        try:
            for n, (kind, value, at) in enumerate(messages):
                key = (
                    f"key-{n % 5}".encode()
                )  # keyed, as a sponsor's producer; a tombstone needs one
                await producer.send(
                    names[kind], value, key=key, partition=0, timestamp_ms=at // 1000
                )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def remove_before(bootstrap: str, topic: str, offset: int, monkeypatch) -> str:
    """Delete a partition's records below ``offset``; says how ("delete_records" or "stand-in")."""

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(offset)}, 5000)
        finally:
            await admin.close()

    try:
        asyncio.run(delete())
    except Exception:  # the embedded broker refuses delete_records: fall back to the stand-in
        deleted = False
    else:
        deleted = True
    if deleted:
        return "delete_records"
    real = AIOKafkaConsumer.beginning_offsets

    async def beginning_offsets(self, partitions):
        answer = await real(self, partitions)
        return {
            tp: max(first, offset) if tp.topic == topic else first for tp, first in answer.items()
        }

    monkeypatch.setattr(AIOKafkaConsumer, "beginning_offsets", beginning_offsets)
    return "stand-in"


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_removed_early_data_is_named_and_its_windows_marked(topics, tmp_path, monkeypatch):
    bootstrap, names = topics
    produce(bootstrap, names, days(0, 5))
    # Days 0 and 1 of entries gone: 12 entry messages.
    remove_before(bootstrap, names["entries"], 12, monkeypatch)
    assert main(["replay", "--from-topics", "--out", str(tmp_path / "t"), *COMMON]) == 0
    coverage = report(tmp_path / "t")["coverage"]
    assert coverage["status"] == "incomplete"
    entries = coverage["partitions"][names["entries"]]["0"]
    assert entries["start"] == entries["log_start"] == 12 and entries["first"] == 12
    # The first message kept (e-200) was entered on day 2 at 02:27:20: complete from there.
    assert coverage["complete_since"] == "2026-01-03T02:27:20Z"
    assert names["entries"] + "[0]" in coverage["reasons"][0]
    windows = report(tmp_path / "t")["windows"]
    marked = [w["start"][:10] for w in windows if w.get("coverage_incomplete")]
    assert marked == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert coverage["caveat"].startswith("The input is complete only since 2026-01-03T02:27")
    html = (tmp_path / "t" / "report.html").read_text()
    assert "Coverage: complete only since 2026-01-03T02:27:20Z" in html
    assert html.count("<td class='bad'>incomplete data</td>") == 3
    csv_rows = (tmp_path / "t" / "windows.csv").read_text().splitlines()
    marked_rows = {row[:10] for row in csv_rows if ",incomplete," in row}
    assert marked_rows == {"2026-01-01", "2026-01-02", "2026-01-03"}

    # Unattended: the same replay with --require-complete says why and exits 4 ...
    argv = ["replay", "--from-topics", "--out", str(tmp_path / "r"), "--require-complete"]
    assert main([*argv, *COMMON]) == 4
    # ... and 0 when the audited period starts after complete_since.
    since = ["--since", "2026-01-04T00:00:00Z"]
    assert main([*argv, *since, *COMMON]) == 0
    assert report(tmp_path / "r")["coverage"]["period"]["since"] == "2026-01-04T00:00:00Z"

    # An export of the same topics replays to the same report, coverage included.
    export = tmp_path / "audit.jsonl"
    assert main(["export", "--out", str(export)]) == 0
    assert main(["replay", "--input", str(export), "--out", str(tmp_path / "f"), *COMMON]) == 0
    from_file, from_topics = report(tmp_path / "f"), report(tmp_path / "t")
    assert from_file["input"].pop("source") == "audit.jsonl"
    assert from_topics["input"].pop("source").startswith("kafka:")
    assert from_file == from_topics
    for name in ("entries.csv", "queries.csv", "windows.csv"):
        assert (tmp_path / "f" / name).read_bytes() == (tmp_path / "t" / name).read_bytes()


def test_a_chain_of_three_exports_verifies_and_any_tampering_is_named(
    topics, tmp_path, monkeypatch, capsys
):
    bootstrap, names = topics
    manifests = []
    for k, (first, last) in enumerate(((0, 1), (2, 3), (4, 5))):
        produce(bootstrap, names, days(first, last))
        out = tmp_path / f"audit-{k}.jsonl"
        previous = ["--previous", str(manifests[-1])] if manifests else []
        assert main(["export", "--out", str(out), *previous]) == 0
        manifests.append(tmp_path / f"audit-{k}.manifest.json")
    chain = [str(m) for m in manifests]
    assert main(["verify", *chain]) == 0
    second = json.loads(manifests[1].read_text())
    assert second["partitions"][names["entries"]]["0"]["start"] == 12  # where the first ended
    assert second["previous"]["sha256"] == hashlib.sha256(manifests[0].read_bytes()).hexdigest()
    capsys.readouterr()

    # One byte flipped in the middle export: named with its file and line.
    middle = tmp_path / "audit-1.jsonl"
    original = middle.read_bytes()
    lines = original.splitlines(keepends=True)
    at = sum(len(line) for line in lines[:5]) + lines[5].index(b"vitals")
    middle.write_bytes(original[:at] + b"V" + original[at + 1 :])
    assert main(["verify", *chain]) == 6
    assert "audit-1.jsonl: lines 1–" in capsys.readouterr().err
    start = sum(len(line) for line in lines[:5])
    middle.write_bytes(original[:start] + b"x" + original[start + 1 :])  # no longer a record
    assert main(["verify", *chain]) == 6
    assert "audit-1.jsonl: line 6: changed" in capsys.readouterr().err
    middle.write_bytes(original)

    # One export dropped from the chain.
    assert main(["verify", chain[0], chain[2]]) == 6
    err = capsys.readouterr().err
    assert "audit-2.manifest.json: its previous export is audit-1.manifest.json" in err
    assert "starts at 24, the previous export ended at 12: offsets 12–23 not covered" in err

    # One export skips offsets: data removed before the fourth export could read it.
    produce(bootstrap, names, days(6, 7))
    remove_before(bootstrap, names["entries"], 40, monkeypatch)
    fourth = tmp_path / "audit-3.jsonl"
    assert main(["export", "--out", str(fourth), "--previous", chain[2]]) == 4
    assert "offsets 36–39 were gone" in capsys.readouterr().err
    assert main(["verify", *chain, str(tmp_path / "audit-3.manifest.json")]) == 6
    assert "offsets 36–39 missing" in capsys.readouterr().err


def test_pretty_printed_tombstone_and_invalid_bytes_count_the_same_live_topics_and_export(
    topics, tmp_path
):
    bootstrap, names = topics
    _kind, compact, entered = entry(900, 3)
    pretty = orjson.dumps(orjson.loads(compact), option=orjson.OPT_INDENT_2)
    assert pretty.count(b"\n") > 5
    # Stamped when it happened: an event far after its message's timestamp is refused.
    messages = [*days(0, 2), ("entries", pretty, entered), ("entries", None, BASE_US),
                ("entries", b"\xff\xfe{not utf-8", BASE_US)]  # fmt: skip
    produce(bootstrap, names, messages)
    live = asyncio.run(live_counts(bootstrap, list(names.values())))
    assert live == {"valid": len(messages) - 2, "invalid": 2}

    export = tmp_path / "audit.jsonl"
    assert main(["export", "--out", str(export)]) == 0
    assert main(["replay", "--input", str(export), "--out", str(tmp_path / "f"), *COMMON]) == 0
    assert main(["replay", "--from-topics", "--out", str(tmp_path / "t"), *COMMON]) == 0
    for out in ("f", "t"):
        facts = report(tmp_path / out)["input"]
        assert {"valid": facts["valid"], "invalid": facts["invalid"]} == live
        entries = (tmp_path / out / "entries.csv").read_text()
        assert "e-900," in entries  # the pretty-printed entry counts
    assert report(tmp_path / "f")["studies"] == report(tmp_path / "t")["studies"]


async def live_counts(bootstrap: str, topic_names: list[str]) -> dict[str, int]:
    """What the live router decides per message: parse_bounded of the raw value (agents/live/routing.py)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    counts = {"valid": 0, "invalid": 0}
    engine = Engine()
    try:
        for name in topic_names:
            tp = TopicPartition(name, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            for _ in range(20):
                batch = (await consumer.getmany(tp, timeout_ms=300)).get(tp, [])
                if not batch:
                    break
                for record in batch:
                    parsed = parse_bounded(record.value, 1_000_000, None)
                    if isinstance(parsed, Rejection):
                        counts["invalid"] += 1
                    else:
                        counts["valid"] += 1
                        engine.apply(parsed)
    finally:
        await consumer.stop()
    return counts
