"""The contract at the boundary: every invalid kind rejected with a one-line reason naming the field.

``INVALID`` is also replayed as lines of a JSONL file by tests/agents/audit/test_replay.py,
so every payload stays on one line and is not blank.
"""

from __future__ import annotations

import orjson
import pytest

from schemas import EntryEvent, PublishEvent, QueryEvent, Rejection, parse_event
from schemas.timestamps import parse_timestamp_us
from tests.schemas.documents import producer_values

ENTRY = {
    "schema": "edc.entry/1", "event_id": "ent-000123", "study_id": "ONC-301", "site_id": "DE-101",
    "subject_id": "SUBJ-0042", "form_id": "VITALS", "record_id": "REC-77",
    "entered_at": "2026-01-05T10:00:00Z",
}  # fmt: skip
PUBLISH = {
    "schema": "dashboard.publish/1", "event_id": "pub-991", "study_id": "ONC-301",
    "published_at": "2026-01-05T12:00:00Z", "record_ids": ["REC-77"],
}  # fmt: skip
QUERY = {
    "schema": "edc.query/1", "event_id": "qev-17", "query_id": "Q-4411", "study_id": "ONC-301",
    "site_id": "DE-101", "status": "opened", "occurred_at": "2026-01-05T12:00:00Z",
}  # fmt: skip
REQUIRED = {
    "edc.entry/1": (ENTRY, ("event_id", "study_id", "site_id", "subject_id", "form_id",
                            "record_id", "entered_at")),
    "dashboard.publish/1": (PUBLISH, ("event_id", "study_id", "published_at")),
    "edc.query/1": (QUERY, ("event_id", "query_id", "study_id", "site_id", "status",
                            "occurred_at")),
}  # fmt: skip


def with_(base: dict, **changes: object) -> bytes:
    """The base document with fields changed; ``...`` removes a field."""
    doc = {**base, **changes}
    return orjson.dumps({k: v for k, v in doc.items() if v is not ...})


def parsed(payload: bytes) -> EntryEvent | PublishEvent | QueryEvent:
    event = parse_event(payload)
    assert not isinstance(event, Rejection), event
    return event


def rejected(payload: bytes) -> str:
    result = parse_event(payload)
    assert isinstance(result, Rejection), result
    return result.reason


# (payload, a part of the reason that names the field and says what is wrong)
INVALID = [
    # not JSON, or not UTF-8
    (b"{not json", "not JSON"),
    (b'{"schema": "edc.entry/1", "event_id": "e1"', "not JSON"),
    (b"\xff\xfe{}", "not JSON: str is not valid UTF-8"),
    (b'{"schema": "edc.entry/1", "event_id": "\xc3\x28"}', "not JSON: str is not valid UTF-8"),
    # not an object
    (b'["schema", "edc.entry/1"]', "not a JSON object: got list"),
    (b'"edc.entry/1"', "not a JSON object: got str"),
    (b"42", "not a JSON object: got int"),
    (b"null", "not a JSON object: got NoneType"),
    # the schema tag
    (with_(ENTRY, schema="edc.entry/2"), "schema: unknown schema (expected one of edc.entry/1"),
    (with_(ENTRY, schema=...), "schema: missing"),
    (with_(ENTRY, schema=1), "schema: missing or not a string"),
    # missing and ill-typed fields
    (with_(ENTRY, record_id=...), "edc.entry/1: record_id: Field required"),
    (with_(ENTRY, study_id=42), "edc.entry/1: study_id: Input should be a valid string"),
    (with_(ENTRY, event_id=None), "edc.entry/1: event_id: Input should be a valid string"),
    (with_(ENTRY, site_id=""), "edc.entry/1: site_id: String should have at least 1 character"),
    (with_(ENTRY, form_id="x" * 129), "edc.entry/1: form_id: String should have at most 128"),
    (with_(PUBLISH, record_ids="REC-77"), "dashboard.publish/1: record_ids: Input should be a valid list"),
    (with_(PUBLISH, record_ids=["REC-1", 7]), "publish/1: record_ids[1]: Input should be a valid string"),
    (with_(QUERY, query_id=["Q-4411"]), "edc.query/1: query_id: Input should be a valid string"),
    # bad timestamps
    (with_(ENTRY, entered_at="2026-01-05T10:00:00"), "entered_at: timestamp has no UTC offset"),
    (with_(ENTRY, entered_at="2024-02-30T10:00:00Z"), "entered_at: impossible date"),
    (with_(ENTRY, entered_at="2023-02-29T10:00:00Z"), "entered_at: impossible date"),
    (with_(ENTRY, entered_at="2026-13-05T10:00:00Z"), "entered_at: impossible date"),
    (with_(ENTRY, entered_at="2026-01-05T24:00:00Z"), "entered_at: impossible time of day"),
    (with_(ENTRY, entered_at="2026-01-05T10:60:00Z"), "entered_at: impossible time of day"),
    (with_(ENTRY, entered_at="2026-01-05 10:00:00Z"), "entered_at: not an RFC 3339 date-time"),
    (with_(ENTRY, entered_at="2026-01-05"), "entered_at: not an RFC 3339 date-time"),
    (with_(ENTRY, entered_at="２０２６-01-05T10:00:00Z"), "entered_at: not an RFC 3339 date-time"),
    (with_(ENTRY, entered_at=1767607200), "entered_at: must be an RFC 3339 date-time string"),
    (with_(QUERY, occurred_at="2026-01-05T12:00:00+25:00"), "occurred_at: impossible UTC offset"),
    (with_(PUBLISH, published_at="2026-01-05T12:00:00+0100"), "published_at: not an RFC 3339"),
    # publishes: what they cover
    (with_(PUBLISH, record_ids=[]), "dashboard.publish/1: record_ids: List should have at least 1 item"),
    (
        with_(PUBLISH, data_cutoff="2026-01-05T11:00:00Z"),
        "dashboard.publish/1: exactly one of record_ids or data_cutoff is required, got both",
    ),
    (
        with_(PUBLISH, record_ids=...),
        "dashboard.publish/1: exactly one of record_ids or data_cutoff is required, got neither",
    ),
    (
        with_(PUBLISH, record_ids=..., data_cutoff="2026-01-05T12:00:00.000001Z"),
        "dashboard.publish/1: data_cutoff is later than published_at",
    ),
    (with_(PUBLISH, dashboard=""), "dashboard.publish/1: dashboard: String should have at least 1"),
    # closed vocabularies and formats
    (with_(ENTRY, action="merge"), "edc.entry/1: action: Input should be 'create', 'update' or 'delete'"),
    (with_(QUERY, status="escalated"), "edc.query/1: status: Input should be 'opened', 'answered',"),
    (with_(ENTRY, country="Germany"), "edc.entry/1: country: String should match pattern"),
    (with_(ENTRY, country="de"), "edc.entry/1: country: String should match pattern"),
    (with_(QUERY, country="DEU"), "edc.query/1: country: String should match pattern"),
    (with_(ENTRY, visit_date="2026-13-01"), "edc.entry/1: visit_date: impossible date"),
    (with_(ENTRY, visit_date="2024-02-30"), "edc.entry/1: visit_date: impossible date"),
    (with_(ENTRY, visit_date="05/01/2026"), "edc.entry/1: visit_date: String should match pattern"),
    (with_(ENTRY, visit_date="٢٠٢٦-01-05"), "edc.entry/1: visit_date: not a YYYY-MM-DD date"),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "reason"), INVALID, ids=[r for _p, r in INVALID])
def test_every_invalid_kind_is_rejected_with_a_one_line_reason(payload, reason):
    text = rejected(payload)
    assert reason in text
    assert "\n" not in text and "\r" not in text
    assert len(text) < 200


@pytest.mark.parametrize(("payload", "reason"), INVALID, ids=[r for _p, r in INVALID])
def test_a_reason_never_echoes_what_the_producer_wrote(payload, reason):
    """Reasons go to logs and dead-letter headers: no subject ids, dates or free text."""
    text = rejected(payload)
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return  # orjson's reasons say where parsing stopped, not what it read
    values = producer_values(document)
    if isinstance(document, dict) and document.get("schema") not in REQUIRED:
        values.append(str(document.get("schema")))
    for value in values:
        if len(value) >= 3:
            assert value not in text


def test_an_impossible_date_is_not_repeated_even_in_part():
    for payload in (with_(ENTRY, visit_date="1961-02-30"), with_(ENTRY, visit_date="1961-14-03")):
        text = rejected(payload)
        assert "visit_date" in text
        assert not any(c.isdigit() for c in text.removeprefix("edc.entry/1"))


@pytest.mark.parametrize(
    ("schema", "field"), [(s, f) for s, (_doc, fields) in REQUIRED.items() for f in fields]
)
def test_every_required_field_is_named_when_missing(schema, field):
    base, _fields = REQUIRED[schema]
    assert rejected(with_(base, **{field: ...})).startswith(f"{schema}: {field}: Field required")


def test_several_problems_are_summarised_on_one_line():
    text = rejected(with_(ENTRY, study_id=..., site_id=..., entered_at="yesterday"))
    assert text.startswith("edc.entry/1: study_id: Field required")
    assert text.endswith("(+2 more)")


def test_an_empty_message_value_is_rejected_not_skipped():
    # A Kafka message with an empty value (blank lines of a JSONL file are skipped earlier).
    assert rejected(b"").startswith("not JSON")
    assert rejected(b"   ").startswith("not JSON")


# -- valid events ------------------------------------------------------------------


def test_valid_events_with_their_defaults():
    entry = parsed(with_(ENTRY))
    assert isinstance(entry, EntryEvent)
    assert (entry.action, entry.country, entry.vendor, entry.visit_date) == (
        "create",
        None,
        None,
        None,
    )
    assert entry.entered_at == parse_timestamp_us("2026-01-05T10:00:00Z")
    publish = parsed(with_(PUBLISH))
    assert isinstance(publish, PublishEvent)
    assert (publish.dashboard, publish.record_ids, publish.data_cutoff) == (
        "default",
        ["REC-77"],
        None,
    )
    query = parsed(with_(QUERY))
    assert isinstance(query, QueryEvent)
    assert (query.status, query.record_id, query.origin) == ("opened", None, None)


def test_every_optional_field_is_read():
    entry = parsed(
        with_(ENTRY, country="DE", vendor="FSP-Alpha", action="delete", visit_date="2024-02-29")
    )
    assert (entry.country, entry.vendor, entry.action, entry.visit_date) == (  # type: ignore[union-attr]
        "DE",
        "FSP-Alpha",
        "delete",
        "2024-02-29",
    )
    snapshot = parsed(
        with_(PUBLISH, record_ids=..., data_cutoff="2026-01-05T12:00:00Z", dashboard="safety")
    )
    # A cutoff equal to the publish time is allowed.
    assert snapshot.data_cutoff == snapshot.published_at  # type: ignore[union-attr]
    assert snapshot.dashboard == "safety"  # type: ignore[union-attr]
    query = parsed(
        with_(QUERY, status="cancelled", record_id="REC-77", form_id="AE", origin="manual")
    )
    assert (query.status, query.record_id, query.form_id, query.origin) == (  # type: ignore[union-attr]
        "cancelled",
        "REC-77",
        "AE",
        "manual",
    )


def test_unknown_extra_fields_are_accepted_and_ignored():
    plain = parsed(with_(ENTRY))
    extended = parsed(
        with_(ENTRY, source_system={"name": "Rave", "version": [2024, 1]}, comment=None, seq=7)
    )
    assert extended == plain
    assert not hasattr(extended, "source_system")


def test_identifiers_of_1_and_128_characters_are_valid():
    entry = parsed(with_(ENTRY, event_id="e", record_id="r" * 128))
    assert (entry.event_id, len(entry.record_id)) == ("e", 128)  # type: ignore[union-attr]


def test_equal_instants_with_different_offsets_parse_to_the_same_integer():
    times = [
        "2026-01-05T10:00:00Z",
        "2026-01-05T12:00:00+02:00",
        "2026-01-05T05:30:00-04:30",
        "2026-01-05T10:00:00-00:00",
        "2026-01-06T00:00:00+14:00",
    ]
    parsed_at = {parsed(with_(ENTRY, entered_at=at)).entered_at for at in times}  # type: ignore[union-attr]
    assert parsed_at == {parse_timestamp_us("2026-01-05T10:00:00Z")}
    # Across a day boundary, and a cutoff after the publish time in local terms but not in UTC.
    assert parse_timestamp_us("2026-01-01T00:30:00+01:00") == parse_timestamp_us(
        "2025-12-31T23:30:00Z"
    )
    snapshot = parsed(
        with_(
            PUBLISH,
            record_ids=...,
            published_at="2026-01-05T12:00:00Z",
            data_cutoff="2026-01-05T13:00:00+02:00",
        )
    )
    assert snapshot.published_at - snapshot.data_cutoff == 3_600_000_000  # type: ignore[union-attr,operator]


def test_fractional_seconds_are_kept_to_the_microsecond_and_finer_digits_truncated():
    whole = parse_timestamp_us("2026-01-05T10:00:00Z")
    for text, micros in [
        ("2026-01-05T10:00:00.5Z", 500_000),
        ("2026-01-05T10:00:00.123Z", 123_000),
        ("2026-01-05T10:00:00.123456Z", 123_456),
        ("2026-01-05T10:00:00.123456789Z", 123_456),
        ("2026-01-05T10:00:00.9999999Z", 999_999),
        ("2026-01-05T11:00:00.25+01:00", 250_000),
    ]:
        assert parsed(with_(ENTRY, entered_at=text)).entered_at - whole == micros  # type: ignore[union-attr]


def test_text_and_bytes_parse_alike():
    assert parse_event(with_(QUERY).decode()) == parse_event(with_(QUERY))
    assert parse_event(bytearray(with_(QUERY))) == parse_event(with_(QUERY))


def test_every_bad_item_of_a_list_is_a_problem_of_its_own_named_by_its_index():
    text = rejected(with_(PUBLISH, record_ids=["", "r" * 129]))
    assert text == (
        "dashboard.publish/1: record_ids[0]: String should have at least 1 character (+1 more)"
    )


def test_a_field_check_is_counted_beside_a_wrong_type_in_another_field():
    """Each field is checked alone (its own validator too): a wrong type in one field does
    not hide a country or a date that its check refuses."""
    text = rejected(with_(ENTRY, site_id="", country="Germany"))
    assert text == "edc.entry/1: site_id: String should have at least 1 character (+1 more)"
    text = rejected(with_(ENTRY, site_id="", visit_date="2024-02-30"))
    assert text == "edc.entry/1: site_id: String should have at least 1 character (+1 more)"


def test_an_unforeseen_failure_is_named_by_its_kind_never_by_its_text():
    from schemas.parse import unreadable

    assert unreadable(KeyError("SUBJ-0042")) == Rejection(
        "not a document this monitor reads (KeyError)"
    )


def test_a_schema_field_that_is_missing_or_not_text_is_named_as_such():
    for payload in (with_(ENTRY, schema=...), with_(ENTRY, schema=1)):
        assert rejected(payload) == "schema: missing or not a string"
