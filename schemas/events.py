"""The event contract, version 1: the one definition of each event.

Each event is a frozen ``msgspec.Struct``; the union of the four is tagged by the
``schema`` field. Everything else is derived from these classes: the validator
(``schemas/parse.py``), the wording of rejections (``schemas/reasons.py``), the JSON
Schema files (``python -m schemas.export``), and the encoding of events between our
own processes (``schemas/wire.py``: the live shard topic, the replay's processes).

Past these classes every event is validated and immutable, and its times are ``int``
microseconds since the epoch (UTC). The rules msgspec cannot state itself live here
too: RFC 3339 timestamps (``dec_hook`` below, via ``schemas/timestamps.py``), real
calendar dates and the publish's coverage (``__post_init__``). Unknown fields are
ignored (msgspec's default), so producers may add fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import product
from string import ascii_uppercase
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct, to_builtins
from msgspec.structs import force_setattr

from schemas.timestamps import (
    VALID_DAYS,
    check_calendar_date,
    common_timestamp_us,
    format_timestamp,
    is_calendar_date,
    parse_timestamp_us,
)

RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"


class _IntegerMicroseconds(type):
    """Timestamp's metaclass: ``isinstance(x, Timestamp)`` is ``isinstance(x, int)``.

    msgspec checks that what a hook returned is an instance of the field's type, and our
    hooks return plain ``int``. The check stays in C: int's own, not a method of ours.
    """

    __instancecheck__ = staticmethod(int.__instancecheck__)


class Timestamp(int, metaclass=_IntegerMicroseconds):
    """An RFC 3339 date-time in a document, epoch microseconds in an event.

    Only a marker: msgspec hands a field of this type to ``dec_hook``, which returns a
    plain ``int`` (msgspec checks that the hook's result is an instance of the field's
    type: the metaclass answers yes for an ``int``). Building an instance of this
    subclass for each timestamp, and a plain ``int`` from it in ``__post_init__``, cost
    ~0.17 µs a timestamp, and a subclass would cost 16 bytes more per pending entry.
    """

    __slots__ = ()


Identifier = Annotated[str, Meta(min_length=1, max_length=128)]
# These two patterns are checked by FIELD_CHECKS (in __post_init__), not by msgspec: its
# regular expression per field cost ~0.4 µs an event each, a set or dict look-up ~0.05.
CountryCode = Annotated[str, Meta(extra_json_schema={"pattern": COUNTRY_PATTERN})]
CalendarDate = Annotated[str, Meta(extra_json_schema={"pattern": DATE_PATTERN})]
EntryAction = Literal["create", "update", "delete"]
QueryStatus = Literal["opened", "answered", "closed", "cancelled"]

ENTRY_SCHEMA = "edc.entry/1"
PUBLISH_SCHEMA = "dashboard.publish/1"
QUERY_SCHEMA = "edc.query/1"
STAGE_SCHEMA = "pipeline.stage/1"

# frozen: events are facts. gc=False: an event holds only strings, ints and a list of
# strings, so it can never be part of a reference cycle; untracked, decoding 100k
# events does not trigger the collector's passes over them (measured in bench/).
# omit_defaults: our own encodings (schemas/wire.py) leave out what decoding fills in.
_CONFIG: dict[str, Any] = {
    "frozen": True,
    "kw_only": True,
    "gc": False,
    "omit_defaults": True,
    "tag_field": "schema",
}


def document_hook(kind: type, value: object) -> object:
    """msgspec's ``dec_hook`` for documents (JSON from producers): timestamps are text."""
    if kind is Timestamp:
        if value.__class__ is not str:
            raise ValueError("must be an RFC 3339 date-time string")
        # The common shapes first (compiled: in C), without the call that words a rejection.
        us = common_timestamp_us(value)  # type: ignore[arg-type]
        return parse_timestamp_us(value) if us is None else us  # type: ignore[arg-type]
    raise NotImplementedError(kind)


def wire_hook(kind: type, value: object) -> object:
    """msgspec's ``dec_hook`` between our processes: timestamps are already microseconds."""
    if kind is Timestamp and value.__class__ is int:
        return value
    raise ValueError("must be integer microseconds")


def coverage_problem(record_ids: object, data_cutoff: int | None, published_at: int) -> str | None:
    """Why a publish's coverage is not valid (exactly one of the two; the cutoff not later)."""
    if (record_ids is None) == (data_cutoff is None):
        got = "both" if record_ids is not None else "neither"
        return f"exactly one of record_ids or data_cutoff is required, got {got}"
    if data_cutoff is not None and data_cutoff > published_at:
        return "data_cutoff is later than published_at"
    return None


_COUNTRIES = frozenset(a + b for a, b in product(ascii_uppercase, repeat=2))
_DATE_SHAPE = re.compile(DATE_PATTERN)  # Unicode digits match; check_calendar_date refuses them


def check_country(text: str) -> None:
    if text not in _COUNTRIES:
        raise ValueError(f"String should match pattern '{COUNTRY_PATTERN}'")


def check_visit_date(text: str) -> None:
    if _DATE_SHAPE.match(text) is None:
        raise ValueError(f"String should match pattern '{DATE_PATTERN}'")
    check_calendar_date(text)


# Checks of one field beyond its type: __post_init__ raises with them, and the rejection
# wording (schemas/reasons.py) runs them field by field, prefixed with the field's name.
FIELD_CHECKS: dict[str, Callable[[str], None]] = {
    "country": check_country,
    "visit_date": check_visit_date,
}


def _failed_check(name: str, value: str) -> None:
    try:
        FIELD_CHECKS[name](value)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


class EntryEvent(Struct, tag=ENTRY_SCHEMA, **_CONFIG):
    """A form saved in the EDC: one unit of data that must reach the dashboards."""

    event_id: Identifier
    study_id: Identifier
    site_id: Identifier
    subject_id: Identifier
    form_id: Identifier
    record_id: Annotated[Identifier, Meta(description="The unit that gets published.")]
    entered_at: Timestamp
    country: Annotated[CountryCode | None, Meta(description="ISO 3166-1 alpha-2.")] = None
    vendor: Annotated[
        Identifier | None, Meta(description="The functional service provider responsible.")
    ] = None
    action: EntryAction = "create"
    visit_date: CalendarDate | None = None

    def __post_init__(self) -> None:
        # Each attribute read once (compiled, a read is a generic attribute look-up), and
        # a date seen before costs a look-up, not a call.
        if self.entered_at.__class__ is not int:  # built in Python from another int-like
            force_setattr(self, "entered_at", int(self.entered_at))
        country = self.country
        if country is not None and country not in _COUNTRIES:
            _failed_check("country", country)
        visit_date = self.visit_date
        if (
            visit_date is not None
            and visit_date not in VALID_DAYS
            and not is_calendar_date(visit_date)
        ):
            _failed_check("visit_date", visit_date)

    @property
    def time_us(self) -> int:
        return self.entered_at


class PublishEvent(Struct, tag=PUBLISH_SCHEMA, **_CONFIG):
    """Data became visible on a dashboard, by record or as a snapshot up to a cutoff."""

    event_id: Identifier
    study_id: Identifier
    published_at: Timestamp
    record_ids: Annotated[list[Identifier], Meta(min_length=1)] | None = None
    data_cutoff: Annotated[
        Timestamp | None,
        Meta(
            description="Snapshot: every entry of the study entered at or before the cutoff "
            "is now visible. Must not be later than published_at."
        ),
    ] = None
    dashboard: Identifier = "default"

    def __post_init__(self) -> None:
        _check_coverage(self, "published_at", self.published_at, self.data_cutoff)

    @property
    def time_us(self) -> int:
        return self.published_at


class QueryEvent(Struct, tag=QUERY_SCHEMA, **_CONFIG):
    """A data clarification query changed state."""

    event_id: Identifier
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

    def __post_init__(self) -> None:
        if self.occurred_at.__class__ is not int:  # built in Python from another int-like
            force_setattr(self, "occurred_at", int(self.occurred_at))
        country = self.country
        if country is not None and country not in _COUNTRIES:
            _failed_check("country", country)

    @property
    def time_us(self) -> int:
        return self.occurred_at


class StageEvent(Struct, tag=STAGE_SCHEMA, **_CONFIG):
    """A stage of a dashboard's pipeline (e.g. extract, transform, load) finished its part,
    by record or as a snapshot up to a cutoff, like a publish. The study configuration
    lists each dashboard's stages in order; the dashboard's publish is its last stage."""

    event_id: Identifier
    study_id: Identifier
    stage: Annotated[Identifier, Meta(description="A stage configured for the dashboard.")]
    completed_at: Timestamp
    record_ids: Annotated[list[Identifier], Meta(min_length=1)] | None = None
    data_cutoff: Annotated[
        Timestamp | None,
        Meta(
            description="Snapshot: this stage has processed every entry of the study entered "
            "at or before the cutoff. Must not be later than completed_at."
        ),
    ] = None
    dashboard: Identifier = "default"

    def __post_init__(self) -> None:
        _check_coverage(self, "completed_at", self.completed_at, self.data_cutoff)

    @property
    def time_us(self) -> int:
        return self.completed_at


def _check_coverage(
    event: PublishEvent | StageEvent, at_field: str, at: int, cutoff: int | None
) -> None:
    """A publish's or a stage's times as plain ints, and what it covers: record ids or a cutoff
    (not both, not neither), the cutoff not after the event's own time."""
    if at.__class__ is not int:  # built in Python from another int-like
        at = int(at)
        force_setattr(event, at_field, at)
    if cutoff is not None and cutoff.__class__ is not int:
        cutoff = int(cutoff)
        force_setattr(event, "data_cutoff", cutoff)
    record_ids = event.record_ids
    # coverage_problem's two rules, inline: its call is for the wording of a refusal.
    if (record_ids is None) == (cutoff is None) or (cutoff is not None and cutoff > at):
        problem = coverage_problem(record_ids, cutoff, at)
        raise ValueError(problem.replace("published_at", at_field))


Event = EntryEvent | PublishEvent | QueryEvent | StageEvent

MODELS: dict[
    str, type[EntryEvent] | type[PublishEvent] | type[QueryEvent] | type[StageEvent]
] = {
    ENTRY_SCHEMA: EntryEvent,
    PUBLISH_SCHEMA: PublishEvent,
    QUERY_SCHEMA: QueryEvent,
    STAGE_SCHEMA: StageEvent,
}


def _timestamp_fields(model: type[Event]) -> tuple[str, ...]:
    from msgspec.structs import fields

    return tuple(f.name for f in fields(model) if "Timestamp" in repr(f.type))


_TIMESTAMP_FIELDS = {model: _timestamp_fields(model) for model in MODELS.values()}


def as_document(event: Event) -> dict[str, Any]:
    """The event as a contract document (timestamps RFC 3339 UTC, no null fields): what a
    producer could have sent for it. For tests and tools; ``parse_event`` is its inverse."""
    document: dict[str, Any] = {k: v for k, v in to_builtins(event).items() if v is not None}
    for name in _TIMESTAMP_FIELDS[type(event)]:
        if name in document:
            document[name] = format_timestamp(document[name])
    return document
