"""The event contract, version 1, as pydantic models.

These models are the boundary: everything past them sees validated, immutable
events whose times are ``int`` microseconds since the epoch (UTC). The JSON
Schema files in ``schemas/json/`` are generated from these models
(``python -m schemas.export``) and a test fails when they drift.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from schemas.timestamps import check_calendar_date, parse_timestamp_us

RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


def _timestamp(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return parse_timestamp_us(value)


Identifier = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=128)]

Timestamp = Annotated[
    int,
    BeforeValidator(_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": RFC3339_PATTERN,
            "description": "RFC 3339 date-time with a T separator and an explicit offset "
            "(Z or ±hh:mm); a timestamp without an offset is invalid.",
        }
    ),
]

CountryCode = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z]{2}$")]

CalendarDate = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^\d{4}-\d{2}-\d{2}$"),
    AfterValidator(check_calendar_date),
]

EntryAction = Literal["create", "update", "delete"]
QueryStatus = Literal["opened", "answered", "closed", "cancelled"]

ENTRY_SCHEMA = "edc.entry/1"
PUBLISH_SCHEMA = "dashboard.publish/1"
QUERY_SCHEMA = "edc.query/1"


class _Event(BaseModel):
    # Unknown fields are accepted and ignored so producers can add fields
    # without breaking the monitor; frozen because events are facts.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Identifier


class EntryEvent(_Event):
    """A form saved in the EDC: one unit of data that must reach the dashboards."""

    model_config = ConfigDict(title="edc.entry/1")

    schema_: Literal["edc.entry/1"] = Field(alias="schema")
    study_id: Identifier
    site_id: Identifier
    subject_id: Identifier
    form_id: Identifier
    record_id: Identifier = Field(description="The unit that gets published.")
    entered_at: Timestamp
    country: CountryCode | None = Field(default=None, description="ISO 3166-1 alpha-2.")
    vendor: Identifier | None = Field(
        default=None, description="The functional service provider responsible."
    )
    action: EntryAction = "create"
    visit_date: CalendarDate | None = None

    @property
    def time_us(self) -> int:
        return self.entered_at


class PublishEvent(_Event):
    """Data became visible on a dashboard, by record or as a snapshot up to a cutoff."""

    model_config = ConfigDict(title="dashboard.publish/1")

    schema_: Literal["dashboard.publish/1"] = Field(alias="schema")
    study_id: Identifier
    published_at: Timestamp
    record_ids: list[Identifier] | None = Field(default=None, min_length=1)
    data_cutoff: Timestamp | None = Field(
        default=None,
        description="Snapshot: every entry of the study entered at or before the cutoff is "
        "now visible. Must not be later than published_at.",
    )
    dashboard: Identifier = "default"

    @model_validator(mode="after")
    def _one_coverage(self) -> PublishEvent:
        if (self.record_ids is None) == (self.data_cutoff is None):
            got = "both" if self.record_ids is not None else "neither"
            raise ValueError(f"exactly one of record_ids or data_cutoff is required, got {got}")
        if self.data_cutoff is not None and self.data_cutoff > self.published_at:
            raise ValueError("data_cutoff is later than published_at")
        return self

    @property
    def time_us(self) -> int:
        return self.published_at


class QueryEvent(_Event):
    """A data clarification query changed state."""

    model_config = ConfigDict(title="edc.query/1")

    schema_: Literal["edc.query/1"] = Field(alias="schema")
    query_id: Identifier
    study_id: Identifier
    site_id: Identifier
    status: QueryStatus
    occurred_at: Timestamp
    record_id: Identifier | None = None
    form_id: Identifier | None = None
    country: CountryCode | None = None
    vendor: Identifier | None = None
    origin: Identifier | None = None

    @property
    def time_us(self) -> int:
        return self.occurred_at


Event = EntryEvent | PublishEvent | QueryEvent

MODELS: dict[str, type[EntryEvent] | type[PublishEvent] | type[QueryEvent]] = {
    ENTRY_SCHEMA: EntryEvent,
    PUBLISH_SCHEMA: PublishEvent,
    QUERY_SCHEMA: QueryEvent,
}
