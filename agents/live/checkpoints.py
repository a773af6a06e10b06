"""Engine checkpoints in Kafka: the coalesced alternative to a changelog write per event.

A shard's engine state is written every ``checkpoint_interval`` (only when it
changed) as declared plain data — ``Engine.to_state()``, laid out in
``streams/state.py`` — serialized with orjson and compressed with zstd, never
pickled: reading a checkpoint cannot run code. Chunks stay under Kafka's message
size limit; each carries the shard, the shard-topic offset the checkpoint covers
(``next_offset``), the checkpoint id, its chunk number and a digest of the whole
payload: SHA-256, or with ``checkpoint_signing_key`` set an HMAC-SHA256 under that key
(``hmac-sha256:<hex>``), which produce rights on the topic alone cannot forge.
Records are keyed ``<shard>:<chunk>`` on a compacted topic with one partition per
shard, so recovery reads only the tail of its shard's partition.

Trust is earned, not claimed: the newest *written* checkpoint is tried first
(not the one claiming the highest offset), then older ones; a checkpoint is used
only when its digest matches (signed by a configured key when one is set), it
declares a decompressed size within ``checkpoint_max_state_bytes`` and holds no
more than that (checked before anything is parsed), its content decodes to an
engine state of this version and configuration with every field of the right type
and range (``streams/state_schema.py``), its header agrees with its content, and its
``next_offset`` exists in the shard partition. Anything else is rejected with one
log line and a counter, and the next older checkpoint is tried, then the shard topic.

Without a signing key the digest only detects damage: whoever may produce to the
checkpoint topic can write a well-formed state (an empty one at the real offset,
say), and it is trusted (docs/operations.md, "Checkpoint signing").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cramjam
import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.kafka.topics import partitions_of, read_to_end, topic_reader
from agents.metrics.health import CheckpointHealth
from streams import Engine, EngineConfig
from streams.state import StateError, check_state
from streams.state_schema import Count, EngineState

CHUNK_BYTES = 900_000  # under the 1 MB default max message size
# The envelope's format; the engine state inside has its own version (streams/state.py).
# /3: plain data (orjson + zstd) with a digest, instead of a pickled engine (/2).
FORMAT = b"edc-latency.checkpoint/3"
# Records read back from the end of a partition before looking further: a few checkpoints.
TAIL_RECORDS = 16
# The default of checkpoint_max_state_bytes (agents/settings.py).
MAX_STATE_BYTES = 256 << 20
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
SIGNED = b"hmac-sha256:"


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    shard: Count
    next_offset: Count
    engine: EngineState


@dataclass(slots=True)
class Checkpoint:
    shard: int
    next_offset: int
    engine: Engine


def dump_engine(engine: Engine, shard: int, next_offset: int) -> bytes:
    """The compressed payload of one checkpoint."""
    envelope = {"shard": shard, "next_offset": next_offset, "engine": engine.to_state()}
    return bytes(cramjam.zstd.compress(orjson.dumps(envelope), level=3))


def load_engine(
    blob: bytes,
    config: EngineConfig,
    shard: int,
    next_offset: int,
    max_state_bytes: int = MAX_STATE_BYTES,
) -> Engine:
    """The engine of a payload whose digest matched; StateError when it is not what it claims."""
    raw = decompress_bounded(blob, max_state_bytes)
    try:
        envelope = msgspec.json.decode(raw, type=_Envelope)
    except msgspec.ValidationError as error:
        raise StateError(f"malformed checkpoint: {' '.join(str(error).split())[:300]}") from None
    except (msgspec.DecodeError, RecursionError):
        raise StateError("payload is not JSON of a checkpoint") from None
    if (envelope.shard, envelope.next_offset) != (shard, next_offset):
        raise StateError("headers disagree with the content")
    return Engine.from_state(config, check_state(envelope.engine, config))  # type: ignore[arg-type]


def decompress_bounded(blob: bytes, max_bytes: int) -> bytearray:
    """One zstd frame that declares its size, at most ``max_bytes``; StateError otherwise.

    The size is read from the frame header before anything is allocated, and the
    output buffer is exactly that size: a frame holding more than it declares, or a
    second frame, fails when the buffer is full instead of growing (a few KB of
    crafted zstd expand to gigabytes).
    """
    declared = zstd_declared_size(blob)
    if declared is None:
        raise StateError("payload is not one zstd frame that declares its size")
    if declared > max_bytes:
        raise StateError(
            f"payload declares {declared} bytes, over checkpoint_max_state_bytes ({max_bytes})"
        )
    out = bytearray(declared)
    try:
        written = cramjam.zstd.decompress_into(blob, out)
    except Exception:
        raise StateError("payload is not zstd, or holds more than it declares") from None
    if written != declared:
        raise StateError("payload holds less than it declares")
    return out  # parsed as it is: no second copy of up to max_bytes


def zstd_declared_size(blob: bytes) -> int | None:
    """The content size a zstd frame header declares (RFC 8878, 3.1.1.1); None: none declared."""
    if len(blob) < 6 or blob[:4] != ZSTD_MAGIC:
        return None
    descriptor = blob[4]
    if descriptor & 0x08:  # reserved bit
        return None
    single_segment = descriptor >> 5 & 1
    size_field = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    if not size_field:
        return None
    start = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    field = blob[start : start + size_field]
    if len(field) != size_field:
        return None
    return int.from_bytes(field, "little") + (256 if size_field == 2 else 0)


def payload_digest(blob: bytes, key: bytes | None) -> bytes:
    """The digest header of a payload: its SHA-256, or its HMAC-SHA256 under ``key``."""
    if key is None:
        return hashlib.sha256(blob).hexdigest().encode()
    return SIGNED + hmac.new(key, blob, hashlib.sha256).hexdigest().encode()


def digest_problem(blob: bytes, claimed: bytes, keys: Sequence[bytes]) -> str | None:
    """Why ``claimed`` does not vouch for ``blob`` (None: it does).

    With keys configured only a signature under one of them vouches; without, only
    the plain digest (a signed checkpoint cannot be checked without its key).
    """
    if claimed.startswith(SIGNED):
        if not keys:
            return "signed, and no checkpoint signing key is configured"
        if any(hmac.compare_digest(payload_digest(blob, key), claimed) for key in keys):
            return None
        return "signature matches none of the configured keys"
    if keys:
        return "not signed, and a checkpoint signing key is configured"
    if not hmac.compare_digest(payload_digest(blob, None), claimed):
        return "digest does not match the payload"
    return None


def chunk_messages(
    shard: int, next_offset: int, checkpoint_id: str, blob: bytes, key: bytes | None = None
) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """(key, value, headers) for each chunk of one checkpoint; signed when ``key`` is given."""
    chunks = [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
    digest = payload_digest(blob, key)
    out = []
    for index, chunk in enumerate(chunks):
        headers = [
            ("format", FORMAT),
            ("shard", str(shard).encode()),
            ("next_offset", str(next_offset).encode()),
            ("checkpoint", checkpoint_id.encode()),
            ("chunk", f"{index}/{len(chunks)}".encode()),
            ("digest", digest),
        ]
        out.append((f"{shard}:{index}".encode(), chunk, headers))
    return out


@dataclass(slots=True)
class _Candidate:
    shard: int
    next_offset: int
    digest: bytes
    total: int
    last_offset: int  # of its last chunk: the newest written is tried first
    chunks: dict[int, bytes]


def _parse_header(record: Any, max_chunks: int) -> tuple[int, int, bytes, int, int, bytes]:
    headers = dict(record.headers or ())
    if headers.get("format") != FORMAT:
        raise ValueError("format")
    index, total = (int(x) for x in headers["chunk"].decode().split("/"))
    if not 0 <= index < total <= max_chunks:  # more chunks could not be within the size limit
        raise ValueError("chunk")
    shard, next_offset = int(headers["shard"]), int(headers["next_offset"])
    if shard < 0 or next_offset < 0:
        raise ValueError("shard or offset")
    return shard, next_offset, headers["checkpoint"], index, total, headers["digest"]


class CheckpointReader:
    """Finds, for each shard asked for, the newest checkpoint that passes every check."""

    def __init__(
        self,
        client_options: dict[str, Any],
        topic: str,
        shard_topic: str,
        config: EngineConfig,
        health: CheckpointHealth,
        keys: Sequence[bytes] = (),
        max_state_bytes: int = MAX_STATE_BYTES,
    ) -> None:
        """``keys``: the signing keys accepted (none: unsigned checkpoints are accepted)."""
        self.client_options = client_options
        self.topic = topic
        self.shard_topic = shard_topic
        self.config = config
        self.health = health
        self.keys = tuple(keys)
        self.max_state_bytes = max_state_bytes
        # zstd never grows a payload by more than a small fraction: one chunk of headroom.
        self.max_chunks = max_state_bytes // CHUNK_BYTES + 2

    async def latest(self, shards: list[int]) -> dict[int, Checkpoint]:
        async with topic_reader(self.client_options) as consumer:
            count = len((await partitions_of(consumer, [self.topic]))[self.topic])
        if not count:
            return {}
        by_partition: dict[int, list[int]] = {}
        for shard in shards:
            by_partition.setdefault(shard % count, []).append(shard)
        # Every partition at once, each with its own reader: read one after the other, each
        # cost its offset look-ups and a last idle fetch, ~0.5 s even when empty (measured on
        # the embedded broker), so a worker taking 8 shards waited 4 s before applying any.
        found = await asyncio.gather(
            *(self._latest_of(partition, set(wanted)) for partition, wanted in by_partition.items())
        )
        return {shard: checkpoint for part in found for shard, checkpoint in part.items()}

    async def _latest_of(self, partition: int, wanted: set[int]) -> dict[int, Checkpoint]:
        async with topic_reader(self.client_options) as consumer:
            return await self._from_partition(consumer, TopicPartition(self.topic, partition), wanted)

    async def _from_partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, wanted: set[int]
    ) -> dict[int, Checkpoint]:
        consumer.assign([tp])
        low = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        found: dict[int, Checkpoint] = {}
        tried: set[tuple[int, bytes]] = set()  # (shard, checkpoint id)
        seen: set[int] = set()
        candidates: dict[tuple[int, bytes], _Candidate] = {}
        window = TAIL_RECORDS
        start = end
        while wanted - set(found) and start > low:
            start = max(low, end - window)
            consumer.seek(tp, start)
            async for record in read_to_end(consumer, [tp]):
                if record.offset in seen:
                    continue
                seen.add(record.offset)
                self._collect(tp, record, wanted, candidates)
            complete = sorted(
                ((key, c) for key, c in candidates.items() if len(c.chunks) == c.total),
                key=lambda item: item[1].last_offset,
                reverse=True,
            )
            for key, candidate in complete:
                if candidate.shard in found or key in tried:
                    continue
                tried.add(key)
                checkpoint = await self._verify(candidate, tp)
                if checkpoint is not None:
                    found[candidate.shard] = checkpoint
            window *= 4
        return found

    def _collect(
        self,
        tp: TopicPartition,
        record: Any,
        wanted: set[int],
        candidates: dict[tuple[int, bytes], _Candidate],
    ) -> None:
        where = f"{tp.topic}[{tp.partition}]@{record.offset}"
        try:
            shard, next_offset, checkpoint_id, index, total, digest = _parse_header(
                record, self.max_chunks
            )
        except (ValueError, KeyError, AttributeError, TypeError):
            self.health.reject("header", where, "headers missing or malformed")
            return
        if shard not in wanted:
            return
        candidate = candidates.get((shard, checkpoint_id))
        if candidate is None:
            candidate = candidates[(shard, checkpoint_id)] = _Candidate(
                shard, next_offset, digest, total, record.offset, {}
            )
        if (candidate.next_offset, candidate.digest, candidate.total) != (
            next_offset,
            digest,
            total,
        ):
            self.health.reject("header", where, "chunks of one checkpoint disagree")
            return
        candidate.chunks[index] = record.value or b""
        candidate.last_offset = max(candidate.last_offset, record.offset)

    async def _verify(self, candidate: _Candidate, tp: TopicPartition) -> Checkpoint | None:
        where = f"of shard {candidate.shard} at {tp.topic}[{tp.partition}]@{candidate.last_offset}"
        blob = b"".join(candidate.chunks[i] for i in range(len(candidate.chunks)))
        problem = digest_problem(blob, candidate.digest, self.keys)
        if problem:
            self.health.reject("digest", where, problem)
            return None
        loop = asyncio.get_running_loop()
        try:
            engine = await loop.run_in_executor(
                None,
                load_engine,
                blob,
                self.config,
                candidate.shard,
                candidate.next_offset,
                self.max_state_bytes,
            )
        except StateError as error:
            self.health.reject("content", where, str(error))
            return None
        problem = await self._offset_problem(candidate.shard, candidate.next_offset)
        if problem:
            self.health.reject("offset", where, problem)
            return None
        return Checkpoint(candidate.shard, candidate.next_offset, engine)

    async def _offset_problem(self, shard: int, next_offset: int) -> str | None:
        """Why next_offset is not an offset of the shard partition (None: it is)."""
        if next_offset == 0:
            return None
        tp = TopicPartition(self.shard_topic, shard)
        consumer = AIOKafkaConsumer(**self.client_options, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            if next_offset <= end:
                return None
            # The embedded broker under-reports end offsets: look for the record itself.
            consumer.seek(tp, next_offset - 1)
            batch = await consumer.getmany(tp, timeout_ms=1000)
            if any(r.offset == next_offset - 1 for r in batch.get(tp, [])):
                return None
            return f"next_offset {next_offset} is past the end of {tp.topic}[{shard}] ({end})"
        finally:
            await consumer.stop()
