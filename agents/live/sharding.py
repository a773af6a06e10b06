"""Partitioning: which shard (partition of the internal shard topic) sees which event.

Scheme (docs/design.md, "Scale-out"): an entry goes to the shard of
hash(study_id, record_id); a query event to the shard of hash(study_id,
query_id); a record-level publish is split, each shard receiving only the
record ids it owns; a snapshot publish covers a whole study, so every shard
gets a copy. Each shard's engine therefore sees every publish that can cover
its entries, and the figures summed over shards are exact. A huge study
spreads over all shards by record id, so it cannot pin one worker.

The wire format between the router and the shards is compact and already
validated and leaves the subject id out (the engine never needs it): an orjson
list per event, a batch per message, so the shard side
rebuilds events with ``model_construct`` instead of validating twice.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import orjson

from schemas import events as ev
from schemas.events import EntryEvent, Event, PublishEvent, QueryEvent
from schemas.fastpath import builder

# Source topics, by position in the wire format, for the health metrics.
TOPIC_KINDS = ("entries", "queries", "publishes")


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
            yield shard, event.model_copy(update={"record_ids": record_ids})


def routed_items(event: Event, topic_index: int, shards: int) -> list[tuple[int, list[object]]]:
    """``route`` and ``encode`` in one pass: (shard, wire item) pairs, only the first counted.

    The router calls this once per input message, so it skips the generator, the
    per-shard model copies of a split publish, and hashing the study id per record.
    """
    kind = type(event)
    if kind is EntryEvent:
        e: EntryEvent = event  # type: ignore[assignment]
        return [(shard_of(e.study_id, e.record_id, shards), [
            0, topic_index, True, e.event_id, e.study_id, e.site_id, e.form_id, e.record_id,
            e.entered_at, e.country, e.vendor, e.action,
        ])]  # fmt: skip
    if kind is QueryEvent:
        q: QueryEvent = event  # type: ignore[assignment]
        return [(shard_of(q.study_id, q.query_id, shards), [
            2, topic_index, True, q.event_id, q.query_id, q.study_id, q.site_id, q.status,
            q.occurred_at, q.country, q.vendor,
        ])]  # fmt: skip
    p: PublishEvent = event  # type: ignore[assignment]
    if p.data_cutoff is not None:
        copy = encode(p, topic_index, False)
        return [(0, encode(p, topic_index, True))] + [(s, copy) for s in range(1, shards)]
    study = zlib.crc32(f"{p.study_id}\x1f".encode())
    by_shard: dict[int, list[str]] = {}
    for record_id in p.record_ids or ():
        by_shard.setdefault(zlib.crc32(record_id.encode(), study) % shards, []).append(record_id)
    out: list[tuple[int, list[object]]] = []
    for n, (shard, record_ids) in enumerate(sorted(by_shard.items())):
        out.append((shard, [
            1, topic_index, n == 0, p.event_id, p.study_id, p.published_at, record_ids, None,
            p.dashboard,
        ]))  # fmt: skip
    return out


def encode(event: Event, topic_index: int, counted: bool) -> list[object]:
    if isinstance(event, EntryEvent):
        return [
            0, topic_index, counted, event.event_id, event.study_id, event.site_id,
            event.form_id, event.record_id, event.entered_at, event.country, event.vendor,
            event.action,
        ]  # fmt: skip
    if isinstance(event, PublishEvent):
        return [
            1, topic_index, counted, event.event_id, event.study_id, event.published_at,
            event.record_ids, event.data_cutoff, event.dashboard,
        ]  # fmt: skip
    return [
        2, topic_index, counted, event.event_id, event.query_id, event.study_id, event.site_id,
        event.status, event.occurred_at, event.country, event.vendor,
    ]  # fmt: skip


def encode_batch(items: list[list[object]]) -> bytes:
    return orjson.dumps(items)


_new_entry = builder(EntryEvent)
_new_publish = builder(PublishEvent)
_new_query = builder(QueryEvent)


def decode_batch(payload: bytes) -> list[tuple[int, bool, Event]]:
    """(topic index, counted, event) for every event of a shard message."""
    # Every field is given, in declaration order; those the wire format leaves out get
    # their model defaults ("" for the subject id, which the engine never reads).
    out: list[tuple[int, bool, Event]] = []
    for item in orjson.loads(payload):
        kind = item[0]
        if kind == 0:
            event = _new_entry({
                "event_id": item[3], "schema_": ev.ENTRY_SCHEMA, "study_id": item[4],
                "site_id": item[5], "subject_id": "", "form_id": item[6], "record_id": item[7],
                "entered_at": item[8], "country": item[9], "vendor": item[10],
                "action": item[11], "visit_date": None,
            })  # fmt: skip
        elif kind == 1:
            event = _new_publish({
                "event_id": item[3], "schema_": ev.PUBLISH_SCHEMA, "study_id": item[4],
                "published_at": item[5], "record_ids": item[6], "data_cutoff": item[7],
                "dashboard": item[8],
            })  # fmt: skip
        else:
            event = _new_query({
                "event_id": item[3], "schema_": ev.QUERY_SCHEMA, "query_id": item[4],
                "study_id": item[5], "site_id": item[6], "status": item[7],
                "occurred_at": item[8], "record_id": None, "form_id": None,
                "country": item[9], "vendor": item[10], "origin": None,
            })  # fmt: skip
        out.append((item[1], item[2], event))
    return out
