"""Every shard sees exactly what can cover its entries; the wire format loses nothing the engine needs."""

from __future__ import annotations

import orjson
from msgspec.structs import replace

from agents.live.sharding import (
    WITHHELD,
    decode_batch,
    encode,
    encode_batch,
    route,
    routed_items,
    shard_of,
)
from schemas import EntryEvent, PublishEvent, QueryEvent, parse_event

SHARDS = 8


def entry(i: int) -> EntryEvent:
    event = parse_event(orjson.dumps({
        "schema": "edc.entry/1", "event_id": f"e{i}", "study_id": "ONC", "site_id": "s1",
        "subject_id": "subject-secret", "form_id": "f", "record_id": f"r{i}",
        "entered_at": "2026-01-01T00:00:00Z", "country": "DE", "vendor": "FSP-A",
    }))  # fmt: skip
    assert isinstance(event, EntryEvent)
    return event


def test_a_record_level_publish_is_split_so_each_shard_gets_only_its_records():
    records = [f"r{i}" for i in range(40)]
    publish = parse_event(orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": "p", "study_id": "ONC",
        "published_at": "2026-01-02T00:00:00Z", "record_ids": records,
    }))  # fmt: skip
    assert isinstance(publish, PublishEvent)
    parts = list(route(publish, SHARDS))
    assert sorted(r for _s, p in parts for r in p.record_ids) == sorted(records)
    for shard, part in parts:
        assert {shard_of("ONC", r, SHARDS) for r in part.record_ids} == {shard}
        assert part.event_id == "p"
    # and each entry lands on the shard that received its record
    for i in range(40):
        ((shard, _),) = route(entry(i), SHARDS)
        assert any(f"r{i}" in p.record_ids for s, p in parts if s == shard)


def test_a_snapshot_publish_reaches_every_shard():
    publish = parse_event(orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": "p", "study_id": "ONC",
        "published_at": "2026-01-02T00:00:00Z", "data_cutoff": "2026-01-01T12:00:00Z",
    }))  # fmt: skip
    assert sorted(s for s, _p in route(publish, SHARDS)) == list(range(SHARDS))


def test_one_huge_study_spreads_over_all_shards():
    shards = {s for i in range(2000) for s, _e in route(entry(i), SHARDS)}
    assert shards == set(range(SHARDS))


def test_the_wire_format_round_trips_and_drops_the_subject_id():
    query = parse_event(orjson.dumps({
        "schema": "edc.query/1", "event_id": "q1", "query_id": "Q", "study_id": "ONC",
        "site_id": "s1", "status": "answered", "occurred_at": "2026-01-03T00:00:00+02:00",
    }))  # fmt: skip
    assert isinstance(query, QueryEvent)
    original = entry(3)
    payload = encode_batch([encode(original, 0, True), encode(query, 1, False)])
    assert b"subject-secret" not in payload
    (t0, c0, e0), (t1, c1, e1) = decode_batch(payload)
    assert (t0, c0, t1, c1) == (0, True, 1, False)
    assert e0 == replace(original, subject_id=WITHHELD)
    assert e1 == query


def test_the_router_fast_path_equals_route_then_encode():
    events = [entry(i) for i in range(20)] + [
        parse_event(orjson.dumps(doc))
        for doc in (
            {"schema": "dashboard.publish/1", "event_id": "p", "study_id": "ONC",
             "published_at": "2026-01-02T00:00:00Z", "record_ids": [f"r{i}" for i in range(30)]},
            {"schema": "dashboard.publish/1", "event_id": "s", "study_id": "ONC",
             "published_at": "2026-01-02T00:00:00Z", "data_cutoff": "2026-01-01T00:00:00Z",
             "dashboard": "safety"},
            {"schema": "edc.query/1", "event_id": "q", "query_id": "Q", "study_id": "ONC",
             "site_id": "s1", "status": "opened", "occurred_at": "2026-01-03T00:00:00Z",
             "country": "FR", "vendor": "V"},
        )
    ]  # fmt: skip
    for topic_index, event in enumerate(events):
        expected = [
            (shard, encode(part, topic_index % 3, n == 0))
            for n, (shard, part) in enumerate(route(event, SHARDS))
        ]
        assert routed_items(event, topic_index % 3, SHARDS) == expected
