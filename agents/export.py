"""Copy the retained input topics into a JSONL file, with a manifest, for audits.

Reads without joining the live consumer group and without committing offsets
(group_id=None, partitions assigned explicitly). Order is stable: by topic
name, then partition, then offset; one message value per line. `--since` and
`--until` filter on the message timestamp while reading (the timestamp offset
look-up of some brokers is unreliable, so it is not used).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.codecs import name_undecodable_batches
from agents.settings import ConfigurationError, Settings, load_settings
from schemas.timestamps import parse_timestamp_us

IDLE_MS = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="JSONL file to write")
    parser.add_argument("--topics", nargs="+", help="topics (default: the three input topics)")
    parser.add_argument("--since", help="keep messages with a timestamp at or after (RFC 3339)")
    parser.add_argument("--until", help="keep messages with a timestamp before (RFC 3339)")
    parser.add_argument("--config", help="TOML settings file")


async def read_topic_records(
    settings: Settings,
    topics: list[str],
    since_ms: int | None = None,
    until_ms: int | None = None,
    ranges: dict[str, dict[int, list[int]]] | None = None,
) -> AsyncIterator[tuple[str, int, int, bytes]]:
    """(topic, partition, offset, value) in stable order, up to the end seen at start."""
    name_undecodable_batches()  # a batch no codec decodes raises UndecodableBatch
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    try:
        # The consumer's own metadata only covers assigned topics; ask for all of them.
        cluster = await consumer._client.fetch_all_metadata()
        for topic in sorted(topics):
            partitions = sorted(cluster.partitions_for_topic(topic) or ())
            if not partitions:
                raise ConfigurationError(f"topic {topic!r} does not exist")
            for partition in partitions:
                tp = TopicPartition(topic, partition)
                consumer.assign([tp])
                await consumer.seek_to_beginning(tp)
                end = (await consumer.end_offsets([tp]))[tp]
                first = last = None
                while True:
                    batch = await consumer.getmany(tp, timeout_ms=IDLE_MS)
                    records = batch.get(tp, [])
                    for record in records:
                        if since_ms is not None and record.timestamp < since_ms:
                            continue
                        if until_ms is not None and record.timestamp >= until_ms:
                            continue
                        if first is None:
                            first = record.offset
                        last = record.offset
                        yield topic, partition, record.offset, record.value or b""
                    # The end: past the end offset seen at start, and nothing more came.
                    if not records and await consumer.position(tp) >= end:
                        break
                if ranges is not None:
                    ranges.setdefault(topic, {})[partition] = (
                        [first, last] if first is not None else []
                    )
    finally:
        await consumer.stop()


def topic_lines(settings: Settings, topics: list[str] | None = None) -> Iterator[bytes]:
    """The lines an export would write, streamed (the replay's --from-topics)."""
    loop = asyncio.new_event_loop()
    records = read_topic_records(settings, topics or list(settings.input_topics))
    try:
        while True:
            try:
                _t, _p, _o, value = loop.run_until_complete(anext(records))
            except StopAsyncIteration:
                return
            yield value + b"\n"
    finally:
        loop.run_until_complete(records.aclose())
        loop.close()


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        since = parse_timestamp_us(args.since) // 1000 if args.since else None
        until = parse_timestamp_us(args.until) // 1000 if args.until else None
    except (ConfigurationError, ValueError) as error:
        print(f"edc-latency export: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    if not settings.bootstrap_servers:
        print("edc-latency export: no broker: set KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    topics = args.topics or list(settings.input_topics)
    out = Path(args.out)
    digest = hashlib.sha256()
    ranges: dict[str, dict[int, list[int]]] = {}
    count = 0

    async def copy() -> None:
        nonlocal count
        with out.open("wb") as handle:
            async for _t, _p, _o, value in read_topic_records(
                settings, topics, since, until, ranges
            ):
                line = value + b"\n"
                handle.write(line)
                digest.update(line)
                count += 1

    try:
        asyncio.run(copy())
    except ConfigurationError as error:
        print(f"edc-latency export: {error}", file=sys.stderr)
        return 2
    manifest = {
        "format": "edc-latency.export/1",
        "file": out.name,
        "topics": sorted(topics),
        "partitions": {t: sorted(p) for t, p in ranges.items()},
        "offset_ranges": {
            t: {str(p): r for p, r in sorted(ps.items())} for t, ps in ranges.items()
        },
        "count": count,
        "since": args.since,
        "until": args.until,
        "sha256": digest.hexdigest(),
    }
    manifest_path = out.with_name(out.name.removesuffix(".jsonl") + ".manifest.json")
    manifest_path.write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    print(f"{count} messages → {out} ({manifest_path.name})", file=sys.stderr)
    return 0
