"""The hand-written fast path and pydantic agree: same accept/reject, same event, same reason."""

from __future__ import annotations

from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.sim.simulator import Simulation
from schemas import EntryEvent, PublishEvent, QueryEvent, Rejection, parse_event
from schemas import parse as parse_module
from schemas.events import MODELS
from schemas.fastpath import FAST

ENTRY = {
    "schema": "edc.entry/1", "event_id": "ent-000123", "study_id": "ONC-301", "site_id": "DE-101",
    "subject_id": "SUBJ-0042", "form_id": "VITALS", "record_id": "REC-77",
    "entered_at": "2026-01-05T10:00:00.123456Z", "country": "DE", "vendor": "FSP-Alpha",
    "action": "update", "visit_date": "2026-01-02",
}  # fmt: skip
PUBLISH_RECORDS = {
    "schema": "dashboard.publish/1", "event_id": "pub-991", "study_id": "ONC-301",
    "published_at": "2026-01-05T12:00:00Z", "record_ids": ["REC-77", "REC-78"],
    "dashboard": "safety",
}  # fmt: skip
PUBLISH_SNAPSHOT = {
    "schema": "dashboard.publish/1", "event_id": "pub-992", "study_id": "ONC-301",
    "published_at": "2026-01-05T12:00:00Z", "data_cutoff": "2026-01-05T11:00:00Z",
}  # fmt: skip
QUERY = {
    "schema": "edc.query/1", "event_id": "qev-17", "query_id": "Q-4411", "study_id": "ONC-301",
    "site_id": "DE-101", "status": "opened", "occurred_at": "2026-01-05T12:00:00Z",
    "record_id": "REC-77", "form_id": "VITALS", "country": "DE", "vendor": "FSP-Alpha",
    "origin": "manual",
}  # fmt: skip
BASES = [ENTRY, PUBLISH_RECORDS, PUBLISH_SNAPSHOT, QUERY]
FIELDS = sorted({name for base in BASES for name in base} | {"schema_", "extra"})

# Values near every edge the models check: shapes of timestamps and dates, lengths,
# country codes, literals, and the JSON types a producer might send by mistake.
TRICKY_STRINGS = [
    "", "x", "x" * 128, "x" * 129, "é" * 128, "DE", "de", "DEU", "D1", "ÄB",
    "create", "update", "delete", "Create", "opened", "answered", "closed", "cancelled",
    "escalated", "default", "edc.entry/1", "dashboard.publish/1", "edc.query/1",
    "2026-01-02", "2024-02-29", "2023-02-29", "2026-13-01", "2026-1-02", "２０２６-01-02",
    "2026-01-02 ", "2026-01-05T10:00:00Z", "2026-01-05T10:00:00.123456Z",
    "2026-01-05T10:00:00.123Z", "2026-01-05T10:00:00.5Z", "2026-01-05T10:00:00.1234567Z",
    "2026-01-05T10:00:00.Z", "2026-01-05T10:00:00", "2026-01-05 10:00:00Z",
    "2026-01-05t10:00:00z", "2026-01-05T10:00:00+01:00", "2026-01-05T10:00:00-00:30",
    "2026-01-05T24:00:00Z", "2026-01-05T10:60:00Z", "2026-01-05T10:00:60Z",
    "2026-02-29T10:00:00Z", "2024-02-29T10:00:00Z", "2026-01-05T10:00:00.12_456Z",
    "2026-01-05T10:00:00.²23456Z", "2026-01-05T10:00:00.+23456Z", "2026-01-05T1０:00:00Z",
    "2026-01-05T10:00:00.123456Z ", "2026-01-05T10:00:00.123456\n", "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z", "2026-01-05T10:00:00.123456ZZ", "2026-01-05T11:00:00Z",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(TRICKY_STRINGS),
    st.text(max_size=30),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(st.sampled_from(TRICKY_STRINGS), SCALARS), max_size=3),
    st.dictionaries(st.sampled_from(["a", "schema"]), SCALARS, max_size=2),
)
# A change: a field set to a value, or (the ellipsis) removed.
CHANGES = st.dictionaries(st.sampled_from(FIELDS), st.one_of(st.just(...), VALUES), max_size=4)


def mutated(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    document = {**base, **changes}
    return {key: value for key, value in document.items() if value is not ...}


def state(event: Any) -> tuple[Any, ...]:
    """Everything that makes up a model instance, with the field order."""
    return (
        event.__class__,
        list(event.__dict__.items()),
        event.__pydantic_fields_set__,
        event.__pydantic_extra__,
        event.__pydantic_private__,
    )


def pydantic_only(payload: bytes) -> object:
    with mock.patch.dict(parse_module.FAST, clear=True):
        return parse_event(payload)


def assert_agree(document: dict[str, Any]) -> None:
    schema = document.get("schema")
    if isinstance(schema, str) and schema in FAST:
        fast = FAST[schema](document)
        if fast is not None:
            assert state(fast) == state(MODELS[schema].model_validate(document)), document
    payload = orjson.dumps(document)
    expected = pydantic_only(payload)
    got = parse_event(payload)
    if isinstance(expected, Rejection):
        assert got == expected, document
    else:
        assert state(got) == state(expected), document


@pytest.mark.parametrize("base", BASES, ids=lambda b: str(b["event_id"]))
def test_well_formed_events_take_the_fast_path(base: dict[str, Any]) -> None:
    event = FAST[base["schema"]](dict(base))
    assert event is not None
    assert state(event) == state(MODELS[base["schema"]].model_validate(base))


@pytest.mark.parametrize("base", BASES, ids=lambda b: str(b["event_id"]))
def test_every_optional_field_missing_or_null_agrees(base: dict[str, Any]) -> None:
    model = MODELS[base["schema"]]
    for name, field in model.model_fields.items():
        if field.is_required() or name not in base:
            continue
        assert_agree(mutated(base, {name: ...}))
        assert_agree(mutated(base, {name: None}))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASES), CHANGES)
def test_fast_path_and_pydantic_agree_on_mutated_documents(
    base: dict[str, Any], changes: dict[str, Any]
) -> None:
    assert_agree(mutated(base, changes))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=14))
def test_fast_path_and_pydantic_agree_on_random_documents(document: dict[str, Any]) -> None:
    assert_agree(document)


def test_simulator_events_all_take_the_fast_path_and_match_pydantic() -> None:
    simulation = Simulation(seed=7, duplicate_rate=0.01, invalid_rate=0.0)
    for count, (_kind, value) in enumerate(simulation.events(30 * 86_400_000_000)):
        if count >= 3000:
            break
        document = orjson.loads(value)
        event = FAST[document["schema"]](document)
        assert event is not None, value
        assert isinstance(event, EntryEvent | PublishEvent | QueryEvent)
        assert state(event) == state(MODELS[document["schema"]].model_validate(document))


@pytest.mark.parametrize("base", BASES, ids=lambda b: str(b["event_id"]))
def test_every_field_at_every_edge_agrees(base: dict[str, Any]) -> None:
    # Exhaustive where random mutation is thin: each field, each edge value.
    edges: list[object] = [*TRICKY_STRINGS, None, 0, 1.5, True, [], ["REC-1"], ["x" * 129], {}]
    for name in [*base, "schema_"]:
        for value in edges:
            assert_agree(mutated(base, {name: value}))
