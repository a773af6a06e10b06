"""An event built in Python (the engine's restored last entry, a caller of schemas/) is
checked like a decoded one: a value beyond its type is refused with the field's name."""

from __future__ import annotations

import pytest

from schemas import EntryEvent, PublishEvent, QueryEvent, StageEvent

FIELDS = {
    "event_id": "e", "study_id": "S", "site_id": "s", "subject_id": "x", "form_id": "f",
    "record_id": "r", "entered_at": 1_704_067_200_000_000,
}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("visit_date", "2024-02-30", "visit_date: impossible date: no such day in that month"),
        ("visit_date", "2024-1-01", "visit_date: String should match pattern"),
        ("country", "de", "country: String should match pattern '^[A-Z]{2}$'"),
    ],
)
def test_a_constructed_event_is_refused_naming_its_field(field, value, reason):
    with pytest.raises(ValueError) as refused:
        EntryEvent(**FIELDS, **{field: value})  # type: ignore[arg-type]
    assert str(refused.value).startswith(reason)
    assert EntryEvent(**FIELDS, visit_date="2024-02-29").visit_date == "2024-02-29"  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["2024-02-30", "2023-02-29", "2024-13-01", "24-01-01", ""])
def test_the_start_of_what_is_not_a_calendar_date_is_refused(text):
    from schemas.timestamps import day_start_us

    with pytest.raises(ValueError, match=r"^not a calendar date$"):
        day_start_us(text)
    assert day_start_us("2024-02-29") == 1_709_164_800_000_000  # 00:00 UTC


STAGE = {
    "schema": "pipeline.stage/1", "event_id": "s", "study_id": "S", "stage": "transform",
    "completed_at": "2024-01-01T00:00:00Z", "dashboard": "default",
}  # fmt: skip


@pytest.mark.parametrize(
    ("coverage", "reason"),
    [
        ({"data_cutoff": "2024-01-01T00:00:00.000001Z"}, "data_cutoff is later than completed_at"),
        ({}, "exactly one of record_ids or data_cutoff is required, got neither"),
        (
            {"record_ids": ["r"], "data_cutoff": "2024-01-01T00:00:00Z"},
            "exactly one of record_ids or data_cutoff is required, got both",
        ),
    ],
)
def test_a_stage_event_s_coverage_is_refused_with_its_own_time_named(coverage, reason):
    import orjson

    from schemas import Rejection, parse_event

    refused = parse_event(orjson.dumps({**STAGE, **coverage}))
    assert refused == Rejection(f"pipeline.stage/1: {reason}")
    at_its_time = parse_event(orjson.dumps({**STAGE, "data_cutoff": STAGE["completed_at"]}))
    assert not isinstance(at_its_time, Rejection)  # a cutoff equal to completed_at


class _Microseconds(int):
    """An int-like a caller might hold (a numpy-style integer, the Timestamp marker)."""


@pytest.mark.parametrize("make", [_Microseconds, "Timestamp"])
def test_a_time_given_as_an_int_subclass_is_stored_as_a_plain_int(make):
    from schemas.events import Timestamp

    kind = Timestamp if make == "Timestamp" else make
    entry = EntryEvent(**{**FIELDS, "entered_at": kind(FIELDS["entered_at"])})  # type: ignore[arg-type]
    publish = PublishEvent(
        event_id="p",
        study_id="S",
        published_at=kind(20),
        data_cutoff=kind(10),  # type: ignore[arg-type]
    )
    query = QueryEvent(
        event_id="q", query_id="Q", study_id="S", site_id="s", status="opened",
        occurred_at=kind(30),  # type: ignore[arg-type]
    )  # fmt: skip
    stage = StageEvent(
        event_id="s",
        study_id="S",
        stage="load",
        completed_at=kind(40),
        data_cutoff=kind(5),  # type: ignore[arg-type]
    )
    assert type(entry.entered_at) is int and entry.entered_at == FIELDS["entered_at"]
    assert (type(publish.published_at), type(publish.data_cutoff)) == (int, int)
    assert (publish.published_at, publish.data_cutoff) == (20, 10)
    assert type(query.occurred_at) is int and query.occurred_at == 30
    assert (type(stage.completed_at), type(stage.data_cutoff)) == (int, int)
    assert (stage.completed_at, stage.data_cutoff) == (40, 5)


def test_a_constructed_query_event_is_refused_naming_its_field():
    with pytest.raises(ValueError) as refused:
        QueryEvent(event_id="q", query_id="Q", study_id="S", site_id="s", status="opened",
                   occurred_at=1, country="de")  # fmt: skip
    assert str(refused.value).startswith("country: String should match pattern '^[A-Z]{2}$'")
