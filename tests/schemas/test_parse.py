"""The contract at the boundary: every invalid kind rejected with a one-line reason naming the field."""

from __future__ import annotations

import orjson
import pytest

from schemas import EntryEvent, PublishEvent, QueryEvent, Rejection, parse_event

ENTRY = {
    "schema": "edc.entry/1", "event_id": "e1", "study_id": "ONC", "site_id": "DE-1",
    "subject_id": "SUBJ-0042", "form_id": "VS", "record_id": "REC-77",
    "entered_at": "2026-01-05T10:00:00Z",
}  # fmt: skip
PUBLISH = {
    "schema": "dashboard.publish/1", "event_id": "p1", "study_id": "ONC",
    "published_at": "2026-01-05T12:00:00Z", "record_ids": ["REC-77"],
}  # fmt: skip
QUERY = {
    "schema": "edc.query/1", "event_id": "q1", "query_id": "Q-9", "study_id": "ONC",
    "site_id": "DE-1", "status": "opened", "occurred_at": "2026-01-05T12:00:00Z",
}  # fmt: skip


def with_(base: dict, **changes: object) -> bytes:
    doc = {**base, **changes}
    return orjson.dumps({k: v for k, v in doc.items() if v is not ...})


def test_valid_events_with_defaults_and_unknown_fields_ignored():
    entry = parse_event(with_(ENTRY, extra_field={"nested": True}))
    assert isinstance(entry, EntryEvent)
    assert entry.action == "create"
    publish = parse_event(with_(PUBLISH))
    assert isinstance(publish, PublishEvent)
    assert publish.dashboard == "default"
    assert isinstance(parse_event(with_(QUERY, origin="edit-check")), QueryEvent)


def test_equal_instants_with_different_offsets_are_equal():
    times = ["2026-01-05T10:00:00Z", "2026-01-05T12:00:00+02:00", "2026-01-05T05:30:00-04:30"]
    parsed = [parse_event(with_(ENTRY, entered_at=t)).entered_at for t in times]  # type: ignore[union-attr]
    assert len(set(parsed)) == 1


def test_fractional_seconds_are_kept_to_the_microsecond():
    a = parse_event(with_(ENTRY, entered_at="2026-01-05T10:00:00.123456789Z"))
    b = parse_event(with_(ENTRY, entered_at="2026-01-05T10:00:00Z"))
    assert a.entered_at - b.entered_at == 123_456  # type: ignore[union-attr]


INVALID = [
    (b"{not json", "not JSON"),
    (b"\xff\xfe{}", "not JSON"),
    (b'["schema"]', "not a JSON object"),
    (b'"edc.entry/1"', "not a JSON object"),
    (with_(ENTRY, schema="edc.entry/2"), "schema: unknown schema"),
    (with_(ENTRY, schema=...), "schema: missing"),
    (with_(ENTRY, record_id=...), "record_id"),
    (with_(ENTRY, study_id=42), "study_id"),
    (with_(ENTRY, site_id=""), "site_id"),
    (with_(ENTRY, form_id="x" * 129), "form_id"),
    (with_(ENTRY, entered_at="2026-01-05T10:00:00"), "entered_at: timestamp has no UTC offset"),
    (with_(ENTRY, entered_at="2026-02-30T10:00:00Z"), "entered_at: impossible day"),
    (with_(ENTRY, entered_at="2026-01-05T25:00:00Z"), "entered_at: impossible time"),
    (with_(ENTRY, entered_at="2026-01-05 10:00:00Z"), "entered_at: not an RFC 3339"),
    (with_(ENTRY, entered_at=1767607200), "entered_at"),
    (with_(ENTRY, action="merge"), "action"),
    (with_(ENTRY, country="Germany"), "country"),
    (with_(ENTRY, visit_date="2026-13-01"), "visit_date"),
    (with_(PUBLISH, record_ids=[]), "record_ids"),
    (with_(PUBLISH, record_ids=["ok", 7]), "record_ids[1]"),
    (
        with_(PUBLISH, data_cutoff="2026-01-05T11:00:00Z"),
        "exactly one of record_ids or data_cutoff",
    ),
    (with_(PUBLISH, record_ids=...), "exactly one of record_ids or data_cutoff is required, got neither"),
    (with_(PUBLISH, record_ids=..., data_cutoff="2026-01-05T13:00:00Z"), "data_cutoff"),
    (with_(QUERY, status="escalated"), "status"),
    (with_(QUERY, occurred_at="2026-01-05T12:00:00+25:00"), "occurred_at"),
]


@pytest.mark.parametrize(("payload", "reason"), INVALID)
def test_every_invalid_kind_is_rejected_with_a_one_line_reason(payload, reason):
    result = parse_event(payload)
    assert isinstance(result, Rejection)
    assert reason in result.reason
    assert "\n" not in result.reason
    # Reasons go to logs and the dead-letter headers: they never echo the values.
    for secret in ("SUBJ-0042", "REC-77", "Germany", "merge", "escalated"):
        assert secret not in result.reason
