"""Round trips through everything derived from the one event definition (schemas/events.py).

Documents are generated over the whole contract (any identifier of 1-128 characters,
any offset and fraction of a timestamp, every optional field present, null or absent),
then: document -> event -> document -> event; event -> shard wire -> event; event ->
the replay's transfer -> event; and every document the parser accepts is valid
against its committed JSON Schema file, checked with ``jsonschema``. Hostile documents
(mutations of valid ones) check the other direction: what the schema file refuses,
the parser refuses too, in one line that names a field and repeats no value.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from agents.live.shard_wire import WITHHELD, decode_batch, encode, encode_batch
from schemas import (
    EntryEvent,
    Event,
    PublishEvent,
    QueryEvent,
    Rejection,
    StageEvent,
    parse_event,
    wire,
)
from schemas.events import MODELS, as_document
from schemas.export import SCHEMA_DIR, file_name
from tests.schemas.documents import documents, producer_values

VALIDATORS = {
    schema: jsonschema.Draft202012Validator(
        json.loads((SCHEMA_DIR / file_name(schema)).read_text(encoding="utf-8"))
    )
    for schema in MODELS
}


def parsed(document: dict[str, Any]) -> Event:
    event = parse_event(orjson.dumps(document))
    assert not isinstance(event, Rejection), (event, document)
    return event


def schema_errors(document: dict[str, Any]) -> list[str]:
    # A null optional field is an absent one (the parser reads it so); the file's oneOf
    # of record_ids / data_cutoff counts keys, so nulls are left out before checking.
    present = {key: value for key, value in document.items() if value is not None}
    return [error.message for error in VALIDATORS[document["schema"]].iter_errors(present)]


ROUND_TRIPS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@ROUND_TRIPS
@given(documents())
def test_document_to_event_to_document_to_event(document: dict[str, Any]) -> None:
    event = parsed(document)
    again = as_document(event)
    assert parsed(again) == event
    # Nothing but the times' spelling and the nulls changed.
    for name, value in again.items():
        if name in document and not name.endswith("_at") and name != "data_cutoff":
            assert document[name] == value


@ROUND_TRIPS
@given(documents(), st.integers(min_value=0, max_value=2), st.booleans())
def test_event_to_shard_wire_to_event(document: dict[str, Any], topic: int, counted: bool) -> None:
    event = parsed(document)
    other = parsed({**document, "event_id": "other"})
    payload = encode_batch([encode(event, topic, counted), encode(other, 2 - topic, not counted)])
    decoded = decode_batch(payload)
    expected = replace(event, subject_id=WITHHELD) if isinstance(event, EntryEvent) else event
    assert decoded[0] == (topic, counted, expected)
    assert decoded[1][:2] == (2 - topic, not counted)
    if isinstance(event, EntryEvent):  # the subject id never enters the shard topic
        assert [item[3]["subject_id"] for item in orjson.loads(payload)] == [WITHHELD] * 2


@ROUND_TRIPS
@given(st.lists(documents(), min_size=1, max_size=5))
def test_event_to_replay_transfer_to_event(batch: list[dict[str, Any]]) -> None:
    events = [parsed(document) for document in batch]
    assert wire.decoder().decode(wire.encode(events)) == events
    # The sharded replay's files: (valid-line index, counts, event) triples.
    triples = [(n, n % 2 == 0, event) for n, event in enumerate(events)]
    from agents.audit.replay.parallel import _decode_chunk

    assert _decode_chunk(wire.encode(triples)) == [tuple(t) for t in triples]
    for event in events:
        assert type(event.time_us) is int  # plain ints cross, never the Timestamp marker


@ROUND_TRIPS
@given(st.lists(documents(), min_size=1, max_size=5))
def test_every_time_is_a_plain_int_after_parsing_and_after_the_transfer(
    batch: list[dict[str, Any]],
) -> None:
    """The hooks return plain ints (no ``Timestamp`` instance is stored, by either decoder),
    and the transfer gives back events of the same class with the same values."""
    from schemas.events import _TIMESTAMP_FIELDS

    events = [parsed(document) for document in batch]
    decoded = wire.decoder().decode(wire.encode(events))
    for event, again in zip(events, decoded, strict=True):
        assert type(again) is type(event) and again == event
        for name in _TIMESTAMP_FIELDS[type(event)]:
            for value in (getattr(event, name), getattr(again, name)):
                assert value is None or type(value) is int, (name, type(value))


@ROUND_TRIPS
@given(documents())
def test_every_accepted_document_is_valid_against_its_json_schema_file(
    document: dict[str, Any],
) -> None:
    event = parsed(document)
    assert schema_errors(document) == []
    assert schema_errors(as_document(event)) == []
    assert isinstance(event, EntryEvent | PublishEvent | QueryEvent | StageEvent)


# -- hostile documents: the schema file is the oracle for what it can express --------

TRICKY = [
    "", "x", "x" * 128, "x" * 129, "é" * 128, "DE", "de", "DEU", "ÄB", "create", "delete",
    "Create", "opened", "escalated", "edc.entry/1", "dashboard.publish/1", "edc.query/1",
    "2024-02-29", "2023-02-29", "2026-13-01", "２０２６-01-02", "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00.1234567Z", "2026-01-05T10:00:00", "2026-01-05 10:00:00Z",
    "2026-01-05t10:00:00z", "2026-01-05T10:00:00+01:00", "2026-01-05T24:00:00Z",
    "2026-01-05T10:00:00.12_456Z", "2026-01-05T10:00:00+25:00", "2026-01-06T00:00:00Z",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(TRICKY), st.text(max_size=30),
)  # fmt: skip
VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(st.sampled_from(TRICKY), SCALARS), max_size=3),
    st.dictionaries(st.sampled_from(["a", "schema"]), SCALARS, max_size=2),
)
FIELDS = sorted({f for m in MODELS.values() for f in m.__struct_fields__} | {"schema"})


VOCABULARY = {"create", "update", "delete", "opened", "answered", "closed", "cancelled", *MODELS}


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents(),
    st.dictionaries(st.sampled_from(FIELDS), st.one_of(st.just(...), VALUES), max_size=4),
)
def test_hostile_documents_what_the_schema_file_refuses_is_refused_in_one_line(
    document: dict[str, Any], changes: dict[str, Any]
) -> None:
    mutated = {k: v for k, v in {**document, **changes}.items() if v is not ...}
    result = parse_event(orjson.dumps(mutated))
    schema = mutated.get("schema")
    if not isinstance(result, Rejection):
        assert schema_errors(mutated) == []
        assert result == parsed(as_document(result))
        return
    reason = result.reason
    assert "\n" not in reason and len(reason) < 300
    assert reason.startswith(("not JSON", "not a JSON object", "schema: ", *MODELS)), reason
    if isinstance(schema, str) and schema in MODELS:
        # Names a field, or the rule across fields of a publish.
        named = reason.removeprefix(f"{schema}: ").split(":")[0].split("[")[0]
        assert named in MODELS[schema].__struct_fields__ or "data_cutoff" in reason, reason
    for value in producer_values(mutated):
        # The contract's own words (a reason may list the allowed values, and names fields)
        # are not echoes, nor is random text short enough to occur in them ("str" in
        # "string", "data_cut" in "data_cutoff").
        if any(value in name for name in FIELDS):
            continue
        checked = value not in VOCABULARY and (len(value) >= 8 or (len(value) >= 3 and value in TRICKY))
        if checked and value in reason.removeprefix(str(schema)):
            # In the contract's own words ("date-tim" in "date-time") when it stays there
            # with the producer's text replaced; an echo when it goes with it.
            assert value in _reason_without(mutated, value), (value, reason)


def _reason_without(document: dict[str, Any], value: str) -> str:
    """The rejection's reason once every string equal to ``value`` is replaced by other text."""
    other = ("#" if "~" in value else "~") * len(value)

    def replaced(item: object) -> object:
        if isinstance(item, dict):
            return {key: replaced(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [replaced(inner) for inner in item]
        return other if item == value and isinstance(item, str) else item

    result = parse_event(orjson.dumps(replaced(document)))
    return result.reason if isinstance(result, Rejection) else ""


@ROUND_TRIPS
@given(st.lists(documents(), min_size=1, max_size=3))
def test_events_through_the_json_wire_decode_to_the_same_events(batch: list[dict[str, Any]]) -> None:
    """The shard topic's JSON (``wire.json_decoder``, built once when agents/live/shard_wire.py
    is imported, so it is asked here directly)."""
    events = [parsed(document) for document in batch]
    assert wire.json_decoder(list[Event]).decode(wire.encode_json(events)) == events


def test_the_wire_takes_integer_microseconds_for_a_time_and_refuses_anything_else():
    import msgspec
    import pytest

    from schemas.events import _timestamp_fields

    # Built once at import: the time fields of each event, by their type.
    assert _timestamp_fields(EntryEvent) == ("entered_at",)
    assert _timestamp_fields(PublishEvent) == ("published_at", "data_cutoff")
    assert _timestamp_fields(QueryEvent) == ("occurred_at",)
    event = parsed({"schema": "edc.query/1", "event_id": "e", "query_id": "q", "study_id": "S",
                    "site_id": "s", "status": "opened", "occurred_at": "2026-01-05T00:00:00Z"})  # fmt: skip
    item = orjson.loads(wire.encode_json([event]))
    assert wire.json_decoder(list[Event]).decode(orjson.dumps(item)) == [event]
    item[0]["occurred_at"] = "2026-01-05T00:00:00Z"  # a producer's text is not the wire's
    with pytest.raises(msgspec.ValidationError, match=r"^must be integer microseconds - at "):
        wire.json_decoder(list[Event]).decode(orjson.dumps(item))
