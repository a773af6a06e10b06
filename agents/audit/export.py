"""Copy the retained input topics into an export file (format 2) with a manifest, for audits.

Reads without joining the live consumer group and without committing offsets
(group_id=None, partitions assigned explicitly). Order is stable: by topic
name, then partition, then offset; one record per message, the value kept
exactly (agents/audit/framing.py). ``--since`` and ``--until`` filter on the
message timestamp while reading (the timestamp offset look-up of some brokers
is unreliable, so it is not used). ``--previous M.manifest.json`` chains this
export to an earlier one: it reads from where that one ended, records the
SHA-256 of its manifest, and names the offsets that were gone in between
(exit status 4, not covered, when any were; the file and its manifest are written).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from aiokafka import TopicPartition

from agents.audit.framing import EXPORT_HEADER, record_line
from agents.audit.manifest import (
    LineDigests,
    PartitionRead,
    build_manifest,
    dumps,
    manifest_path,
    next_offsets,
    read_manifest,
)
from agents.errors import NotCovered
from agents.kafka.broker_check import check_broker
from agents.kafka.codecs import name_undecodable_batches
from agents.kafka.topics import partitions_of, read_to_end, topic_reader
from agents.settings import ConfigurationError, Settings, load_settings
from schemas.timestamps import parse_timestamp_us

IDLE_MS = 500

# (topic, partition, offset, timestamp in ms, value or None for a tombstone)
TopicRecord = tuple[str, int, int, int, bytes | None]
PartitionReads = dict[str, dict[int, PartitionRead]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="file to write (format 2, see docs/replay.md)")
    parser.add_argument("--topics", nargs="+", help="topics (default: the three input topics)")
    parser.add_argument("--since", help="keep messages with a timestamp at or after (RFC 3339)")
    parser.add_argument("--until", help="keep messages with a timestamp before (RFC 3339)")
    parser.add_argument(
        "--previous", help="manifest of the previous export: continue the chain where it ended"
    )
    parser.add_argument("--config", help="TOML settings file")


async def read_topic_records(
    settings: Settings,
    topics: list[str],
    since_ms: int | None = None,
    until_ms: int | None = None,
    reads: PartitionReads | None = None,
    start_at: dict[str, dict[int, int]] | None = None,
) -> AsyncIterator[TopicRecord]:
    """Records in stable order, up to the end seen at start; ``reads`` gets what each partition gave.

    ``start_at`` (a chain): per partition, the offset to continue from; offsets
    below the broker's log start by then are recorded as ``missing``.
    """
    name_undecodable_batches()  # a batch no codec decodes raises UndecodableBatch
    async with topic_reader(settings.kafka_client_options()) as consumer:
        by_topic = await partitions_of(consumer, sorted(topics))
        for topic, partitions in by_topic.items():
            if not partitions:
                raise ConfigurationError(f"topic {topic!r} does not exist")
            for partition in partitions:
                tp = TopicPartition(topic, partition)
                consumer.assign([tp])
                # The log start: above 0 once retention, compaction or delete_records took data.
                log_start = (await consumer.beginning_offsets([tp]))[tp]
                wanted = (start_at or {}).get(topic, {}).get(partition)
                read = PartitionRead(log_start=log_start, start=log_start)
                if wanted is not None:
                    read.start = max(wanted, log_start)
                    if log_start > wanted:
                        read.missing = [wanted, log_start - 1]
                consumer.seek(tp, read.start)
                async for record in read_to_end(consumer, [tp], idle_ms=IDLE_MS):
                    if since_ms is not None and record.timestamp < since_ms:
                        continue
                    if until_ms is not None and record.timestamp >= until_ms:
                        continue
                    if read.first is None:
                        read.first = record.offset
                        read.first_timestamp = record.timestamp
                    read.last = record.offset
                    read.count += 1
                    yield topic, partition, record.offset, record.timestamp, record.value
                read.end = await consumer.position(tp)
                if reads is not None:
                    reads.setdefault(topic, {})[partition] = read


def topic_lines(
    settings: Settings, topics: list[str] | None = None, reads: PartitionReads | None = None
) -> Iterator[bytes]:
    """The lines an export would write, streamed (the replay's --from-topics)."""
    loop = asyncio.new_event_loop()
    records = read_topic_records(settings, topics or list(settings.input_topics), reads=reads)
    try:
        yield EXPORT_HEADER
        while True:
            try:
                record = loop.run_until_complete(anext(records))
            except StopAsyncIteration:
                return
            yield record_line(*record)
    finally:
        loop.run_until_complete(records.aclose())
        loop.close()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    try:
        since = parse_timestamp_us(args.since) // 1000 if args.since else None
        until = parse_timestamp_us(args.until) // 1000 if args.until else None
        previous_path = Path(args.previous) if args.previous else None
        start_at = None
        if previous_path is not None:
            if args.since or args.until:
                raise ValueError("--previous continues by offset: it takes no --since/--until")
            start_at = next_offsets(read_manifest(previous_path))
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    if not settings.bootstrap_servers:
        raise ConfigurationError("no broker: set KAFKA_BOOTSTRAP_SERVERS")
    check_broker(settings)
    topics = args.topics or list(settings.input_topics)
    out = Path(args.out)
    digests = LineDigests()
    reads: PartitionReads = {}
    count = 0

    async def copy() -> None:
        nonlocal count
        with out.open("wb") as handle:
            handle.write(EXPORT_HEADER)
            digests.add(EXPORT_HEADER)
            async for record in read_topic_records(settings, topics, since, until, reads, start_at):
                line = record_line(*record)
                handle.write(line)
                digests.add(line)
                count += 1

    asyncio.run(copy())
    manifest = build_manifest(
        out, digests, count, reads, topics, args.since, args.until, previous_path
    )
    path = manifest_path(out)
    path.write_bytes(dumps(manifest))
    print(f"{count} messages → {out} ({path.name})", file=sys.stderr)
    if manifest["gaps"]:
        raise NotCovered(
            "; ".join(
                f"{gap['topic']} partition {gap['partition']}: offsets {gap['from']}–{gap['to']} "
                "were gone before this export could read them"
                for gap in manifest["gaps"]
            )
        )
    return 0
