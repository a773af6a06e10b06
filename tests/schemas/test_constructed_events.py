"""An event built in Python (the engine's restored last entry, a caller of schemas/) is
checked like a decoded one: a value beyond its type is refused with the field's name."""

from __future__ import annotations

import pytest

from schemas import EntryEvent

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
