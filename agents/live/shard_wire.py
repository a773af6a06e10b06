"""Partitioning: which shard (partition of the internal shard topic) sees which event.

Scheme (docs/design.md, "Scale-out"): an entry goes to the shard of
hash(study_id, record_id); a query event to the shard of hash(study_id,
query_id); a record-level publish is split, each shard receiving only the
record ids it owns; a snapshot publish covers a whole study, so every shard
gets a copy. Each shard's engine therefore sees every publish that can cover
its entries, and the figures summed over shards are exact. A huge study
spreads over all shards by record id, so it cannot pin one worker.

The wire between the router and the shards is derived from the event definition
(``schemas/wire.py``): a shard message is a JSON array of items ``[3, topic index,
counted, event]``, the event as its contract object with times in microseconds and
the subject id withheld (``WITHHELD``: the engine never reads it, and it has no
business in an internal topic). The leading 3 is the item kind: 0, 1 and 2 are the
previous version's positional items, still read during a rolling upgrade
(``agents/live/legacy_wire.py``); any other kind makes the whole message unreadable,
said in one line (``WireError``), never half-applied or guessed at.

Kind 4 (issue 21) is the router's report of its inputs' progress, ``[4, [[topic
index, partition, newest event time in µs or null, idle]…], [partitions of each
input topic…]]``, the last item of a shard message: the shard engine's retention
horizon follows the low watermark of these (``streams/watermarks.py``). A worker of
the previous version skips a message holding one whole, as it would any kind it does
not know: upgrade every worker of a deployment together (docs/design.md, "Upgrades").
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

import msgspec
from msgspec import Struct
from msgspec.structs import replace

from agents.errors import UndecodableInput
from agents.live.legacy_wire import LegacyEntryItem, LegacyPublishItem, LegacyQueryItem
from schemas import wire
from schemas.events import EntryEvent, Event, PublishEvent, QueryEvent
from streams.state_schema import PartitionCount, PartitionNumber, TopicIndex

# Source topics, by index in a shard item, for the health metrics.
TOPIC_KINDS = ("entries", "queries", "publishes")

WITHHELD = "-"
"""What shards see as an entry's subject id: the router never writes the real one."""


class ShardItem(Struct, tag=3, frozen=True, array_like=True, gc=False):
    """One event for one shard; ``counted``: this copy counts in the input's health figures."""

    topic_index: int
    counted: bool
    event: Event


class ProgressItem(Struct, tag=4, frozen=True, array_like=True, gc=False):
    """The router's inputs, each as (topic index, partition, newest event µs or None, idle),
    and how many partitions each input topic has (empty: not known to that router)."""

    # Bounded as in a checkpoint (streams/state_schema.py): a forged count cannot make the
    # low watermark walk billions of partitions.
    marks: list[tuple[TopicIndex, PartitionNumber, int | None, bool]]
    partitions: list[PartitionCount] = []


class WireError(UndecodableInput, ValueError):
    """A shard message this version cannot read; the text is one line and names no value.

    The shard agent skips such a message whole (agents/live/shard_engines.py): it never stops
    a worker, so its exit status is only what it would be if it escaped.
    """


_decode_items = wire.json_decoder(
    list[ShardItem | ProgressItem | LegacyEntryItem | LegacyPublishItem | LegacyQueryItem]
).decode
_encode = wire.encode_json
_WHERE = re.compile(r" - at `(.*)`\Z")


def shard_of(key_a: str, key_b: str, shards: int) -> int:
    # crc32 is stable across processes and Python versions (hash() is salted).
    return zlib.crc32(f"{key_a}\x1f{key_b}".encode()) % shards


def route(event: Event, shards: int) -> Iterable[tuple[int, Event]]:
    """(shard, event) pairs: one for entries and queries, one per shard involved for publishes."""
    if isinstance(event, EntryEvent):
        yield shard_of(event.study_id, event.record_id, shards), event
    elif isinstance(event, QueryEvent):
        yield shard_of(event.study_id, event.query_id, shards), event
    elif event.data_cutoff is not None:
        for shard in range(shards):
            yield shard, event
    else:
        by_shard: dict[int, list[str]] = {}
        for record_id in event.record_ids or ():
            by_shard.setdefault(shard_of(event.study_id, record_id, shards), []).append(record_id)
        for shard, record_ids in sorted(by_shard.items()):
            yield shard, replace(event, record_ids=record_ids)


def routed_items(event: Event, topic_index: int, shards: int) -> list[tuple[int, bytes]]:
    """``route`` and ``encode`` in one pass: (shard, encoded item) pairs, only the first counted.

    The router calls this once per input message, so it skips the generator and
    hashing the study id per record of a split publish.
    """
    kind = type(event)
    if kind is EntryEvent:
        e: EntryEvent = event  # type: ignore[assignment]
        return [(shard_of(e.study_id, e.record_id, shards), encode(e, topic_index, True))]
    if kind is QueryEvent:
        q: QueryEvent = event  # type: ignore[assignment]
        return [(shard_of(q.study_id, q.query_id, shards), encode(q, topic_index, True))]
    p: PublishEvent = event  # type: ignore[assignment]
    if p.data_cutoff is not None:
        copy = encode(p, topic_index, False)
        return [(0, encode(p, topic_index, True))] + [(s, copy) for s in range(1, shards)]
    study = zlib.crc32(f"{p.study_id}\x1f".encode())
    by_shard: dict[int, list[str]] = {}
    for record_id in p.record_ids or ():
        by_shard.setdefault(zlib.crc32(record_id.encode(), study) % shards, []).append(record_id)
    return [
        (shard, encode(replace(p, record_ids=record_ids), topic_index, n == 0))
        for n, (shard, record_ids) in enumerate(sorted(by_shard.items()))
    ]


def encode(event: Event, topic_index: int, counted: bool) -> bytes:
    """One shard item, JSON; a message is ``encode_batch`` of several."""
    if event.__class__ is EntryEvent:
        event = replace(event, subject_id=WITHHELD)  # type: ignore[type-var]
    return _encode(ShardItem(topic_index, counted, event))


def encode_batch(items: list[bytes]) -> bytes:
    """The message of encoded items: a JSON array, as the router's buffers frame it."""
    return b"[" + b",".join(items) + b"]"


def encode_progress(
    marks: list[tuple[int, int, int | None, bool]], partitions: list[int] | None = None
) -> bytes:
    """The progress item of a shard message (its last item)."""
    return _encode(ProgressItem(marks, partitions or []))


def decode_batch(payload: bytes) -> list[tuple[int, bool, Event]]:
    """(topic index, counted, event) for every event of a shard message; WireError if unreadable."""
    return decode_message(payload)[0]


def decode_message(payload: bytes) -> tuple[list[tuple[int, bool, Event]], ProgressItem | None]:
    """The events of a shard message, and the progress item it ends with (None: none)."""
    try:
        items = _decode_items(payload)
    except msgspec.ValidationError as error:
        # msgspec's message may quote the input; say only where, and what we read.
        where = _WHERE.search(str(error))
        at = where.group(1) if where else "$"
        raise WireError(
            f"not a shard message of item kinds 0-4 at {at} (written by a newer version?)"
        ) from None
    except msgspec.DecodeError:
        raise WireError("not a JSON shard message") from None
    except Exception as error:  # deep nesting (RecursionError), memory: the kind only
        raise WireError(f"not a readable shard message ({type(error).__name__})") from None
    progress = None
    if items and items[-1].__class__ is ProgressItem:
        progress = items.pop()
    if any(item.__class__ is ProgressItem for item in items):
        raise WireError("a progress item before the end of a shard message")
    try:
        events = [
            (item.topic_index, item.counted, item.event) if item.__class__ is ShardItem
            else item.item()  # type: ignore[union-attr]
            for item in items
        ]  # fmt: skip
    except Exception as error:  # a legacy item whose fields make no event (__post_init__)
        raise WireError(
            f"a previous version's item that is not an event ({type(error).__name__})"
        ) from None
    return events, progress  # type: ignore[return-value]
