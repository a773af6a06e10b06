"""Every shard sees exactly what can cover its entries; the wire format loses nothing the engine needs."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from agents.live.shard_wire import (
    WITHHELD,
    WireError,
    decode_batch,
    encode,
    encode_batch,
    route,
    routed_items,
    shard_of,
)
from schemas import EntryEvent, PublishEvent, QueryEvent, StageEvent, parse_event
from tests.schemas.documents import documents

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


# -- a rolling upgrade: shard messages of the previous version ---------------------


def _previous_version_item(event, topic_index: int, counted: bool) -> list[object]:  # type: ignore[no-untyped-def]
    """What the previous version's router wrote per event (its ``encode``, kept verbatim)."""
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


def _as_previous_version_read_it(event):  # type: ignore[no-untyped-def]
    """The fields the previous wire carried; the others at the values it gave them."""
    if isinstance(event, EntryEvent):
        return replace(event, subject_id="", visit_date=None)
    if isinstance(event, QueryEvent):
        return replace(event, record_id=None, form_id=None, origin=None)
    return event


def test_a_message_of_the_previous_version_is_read_field_by_field():
    payload = (
        b'[[0,0,true,"e1","ONC","DE-1","VS","r1",1767225600000000,"DE","FSP-A","update"],'
        b'[1,2,false,"p1","ONC",1767229200000000,["r1","r2"],null,"safety"],'
        b'[1,2,true,"p2","ONC",1767229200000000,null,1767225600000000,"default"],'
        b'[2,1,true,"q1","Q-9","ONC","DE-1","answered",1767232800000000,null,"FSP-B"]]'
    )
    (t0, c0, entry_), (t1, c1, split), (t2, c2, snapshot), (t3, c3, query) = decode_batch(payload)
    assert [(t0, c0), (t1, c1), (t2, c2), (t3, c3)] == [(0, True), (2, False), (2, True), (1, True)]
    assert entry_ == EntryEvent(
        event_id="e1", study_id="ONC", site_id="DE-1", subject_id="", form_id="VS",
        record_id="r1", entered_at=1767225600000000, country="DE", vendor="FSP-A",
        action="update",
    )  # fmt: skip
    assert split == PublishEvent(
        event_id="p1", study_id="ONC", published_at=1767229200000000, record_ids=["r1", "r2"],
        dashboard="safety",
    )  # fmt: skip
    assert (snapshot.record_ids, snapshot.data_cutoff) == (None, 1767225600000000)  # type: ignore[union-attr]
    assert query == QueryEvent(
        event_id="q1", query_id="Q-9", study_id="ONC", site_id="DE-1", status="answered",
        occurred_at=1767232800000000, vendor="FSP-B",
    )  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=1, max_size=6), st.data())
def test_previous_and_current_items_in_one_message_decode_to_the_same_events(batch, data):
    events = [parse_event(orjson.dumps(document)) for document in batch]
    items, expected = [], []
    for n, event in enumerate(events):
        counted = n % 2 == 0
        # Written by a router of the previous version (which had no stage events).
        if not isinstance(event, StageEvent) and data.draw(st.booleans()):
            items.append(orjson.dumps(_previous_version_item(event, n % 3, counted)))
            expected.append((n % 3, counted, _as_previous_version_read_it(event)))
        else:
            items.append(encode(event, n % 3, counted))
            withheld = (
                replace(event, subject_id=WITHHELD) if isinstance(event, EntryEvent) else event
            )
            expected.append((n % 3, counted, withheld))
    assert decode_batch(encode_batch(items)) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b'[[4,0,true,{"schema":"edc.entry/1"}]]',  # an item kind of a later version
        b'[[3,0,true,{"schema":"edc.entry/2","event_id":"secret-id"}]]',  # a later event schema
        b'[[0,0,true,"secret-id"]]',  # a previous item cut short
        b'{"v": 9, "items": []}',
        b"[[",
    ],
)
def test_a_message_this_version_cannot_read_is_refused_whole_in_one_line(payload):
    with pytest.raises(WireError) as refused:
        decode_batch(payload)
    reason = str(refused.value)
    assert "\n" not in reason and "secret" not in reason and "edc.entry/2" not in reason
