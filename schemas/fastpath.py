"""Validation of well-formed events without pydantic, for the replay's and router's hot path.

pydantic costs ~10 µs per event, several times orjson itself. Nearly every real
message is well-formed, so these functions check exactly what the models in
``schemas.events`` check and build the same frozen model instances (same
``__dict__`` in field order, same ``model_fields_set``), but answer ``None`` for
anything they are not sure about: ``parse_event`` then asks pydantic, which decides
and words the rejection. So a wrong ``None`` only costs time; accepting what
pydantic would reject, or building a different event, would be a bug, and
``tests/schemas/test_fastpath.py`` checks both paths agree on random documents.

Keep in step with ``schemas.events``: a new field or constraint there must be
added here, or the fast path must answer ``None`` when the field is present.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from string import ascii_uppercase
from typing import Any

from pydantic import BaseModel

from schemas.events import (
    ENTRY_SCHEMA,
    PUBLISH_SCHEMA,
    QUERY_SCHEMA,
    EntryEvent,
    Event,
    PublishEvent,
    QueryEvent,
)
from schemas.timestamps import is_calendar_date, utc_timestamp_us

_new = object.__new__
_set = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__

_COUNTRIES = frozenset(a + b for a, b in product(ascii_uppercase, repeat=2))
# Literal values map to the model's own constant, so every event shares one string object.
_ACTIONS = {"create": "create", "update": "update", "delete": "delete"}
_STATUSES = {s: s for s in ("opened", "answered", "closed", "cancelled")}

_ENTRY_REQUIRED = frozenset(
    ("event_id", "schema_", "study_id", "site_id", "subject_id", "form_id", "record_id",
     "entered_at")
)  # fmt: skip
_ENTRY_OPTIONAL = frozenset(("country", "vendor", "action", "visit_date"))
_ENTRY_ALL = _ENTRY_REQUIRED | _ENTRY_OPTIONAL
_PUBLISH_REQUIRED = frozenset(("event_id", "schema_", "study_id", "published_at"))
_PUBLISH_OPTIONAL = frozenset(("record_ids", "data_cutoff", "dashboard"))
_QUERY_REQUIRED = frozenset(
    ("event_id", "schema_", "query_id", "study_id", "site_id", "status", "occurred_at")
)
_QUERY_OPTIONAL = frozenset(("record_id", "form_id", "country", "vendor", "origin"))


def _finish(event: Any, values: dict[str, Any], fields_set: set[str]) -> Any:
    # What pydantic-core sets on a validated instance of a model with extra="ignore"
    # and no private attributes (see BaseModel.model_construct). The slots' own
    # descriptors: ~25% cheaper than object.__setattr__, which looks them up each time.
    _set(event, "__dict__", values)
    _set_fields_set(event, fields_set)
    _set_extra(event, None)
    _set_private(event, None)
    return event


def builder(model: type[Event]) -> Callable[[dict[str, Any]], Event]:
    """Events rebuilt from all their fields, already validated elsewhere (the shard wire,
    the replay's reading process): what ``model_construct`` does, minus its per-field
    alias and default look-ups, which cost more than the engine's work on the event."""
    names = frozenset(model.model_fields)

    def build(fields: dict[str, Any]) -> Event:
        return _finish(_new(model), fields, set(names))  # type: ignore[no-any-return]

    return build


def _identifier(value: object) -> bool:
    return value.__class__ is str and 0 < len(value) <= 128  # type: ignore[arg-type]


def _optional_identifier(value: object) -> bool:
    return value is None or (value.__class__ is str and 0 < len(value) <= 128)  # type: ignore[arg-type]


def _optional_country(value: object) -> bool:
    return value is None or (value.__class__ is str and value in _COUNTRIES)


def entry(document: dict[str, Any]) -> EntryEvent | None:
    get = document.get
    event_id = get("event_id")
    study_id = get("study_id")
    site_id = get("site_id")
    subject_id = get("subject_id")
    form_id = get("form_id")
    record_id = get("record_id")
    entered_at = get("entered_at")
    # `.__class__ is str` first: orjson gives exact str, and len() of anything else is wrong.
    if not (
        event_id.__class__ is str
        and study_id.__class__ is str
        and site_id.__class__ is str
        and subject_id.__class__ is str
        and form_id.__class__ is str
        and record_id.__class__ is str
        and entered_at.__class__ is str
        and 0 < len(event_id) <= 128
        and 0 < len(study_id) <= 128
        and 0 < len(site_id) <= 128
        and 0 < len(subject_id) <= 128
        and 0 < len(form_id) <= 128
        and 0 < len(record_id) <= 128
    ):
        return None
    entered_us = utc_timestamp_us(entered_at)
    if entered_us is None:
        return None
    country = get("country")
    vendor = get("vendor")
    # The helpers' checks, inlined: entries are most of the input.
    if not (
        (country is None or (country.__class__ is str and country in _COUNTRIES))
        and (vendor is None or (vendor.__class__ is str and 0 < len(vendor) <= 128))
    ):
        return None
    given_action = get("action")
    if given_action is None:
        if "action" in document:
            return None  # null is not an action; pydantic words it
        action = "create"
    else:
        action = _ACTIONS.get(given_action) if given_action.__class__ is str else None
        if action is None:
            return None
    visit_date = get("visit_date")
    if visit_date is not None and not (
        visit_date.__class__ is str and is_calendar_date(visit_date)
    ):
        return None
    if country is None or vendor is None or given_action is None or visit_date is None:
        fields_set = document.keys() & _ENTRY_OPTIONAL
        fields_set |= _ENTRY_REQUIRED
    else:
        fields_set = set(_ENTRY_ALL)  # every optional field given: the common case
    event = _new(EntryEvent)
    _set(
        event,
        "__dict__",
        {
            "event_id": event_id,
            "schema_": ENTRY_SCHEMA,
            "study_id": study_id,
            "site_id": site_id,
            "subject_id": subject_id,
            "form_id": form_id,
            "record_id": record_id,
            "entered_at": entered_us,
            "country": country,
            "vendor": vendor,
            "action": action,
            "visit_date": visit_date,
        },
    )
    _set_fields_set(event, fields_set)
    _set_extra(event, None)
    _set_private(event, None)  # as _finish, inlined
    return event  # type: ignore[no-any-return]


def publish(document: dict[str, Any]) -> PublishEvent | None:
    get = document.get
    event_id = get("event_id")
    study_id = get("study_id")
    published_at = get("published_at")
    if not (_identifier(event_id) and _identifier(study_id) and published_at.__class__ is str):
        return None
    published_us = utc_timestamp_us(published_at)
    if published_us is None:
        return None
    record_ids = get("record_ids")
    data_cutoff = get("data_cutoff")
    # Exactly one coverage, as PublishEvent._one_coverage demands.
    if record_ids is not None:
        if data_cutoff is not None or record_ids.__class__ is not list or not record_ids:
            return None
        for record_id in record_ids:
            if not (record_id.__class__ is str and 0 < len(record_id) <= 128):
                return None
        cutoff_us = None
    else:
        if data_cutoff.__class__ is not str:
            return None
        cutoff_us = utc_timestamp_us(data_cutoff)
        if cutoff_us is None or cutoff_us > published_us:
            return None
    dashboard = get("dashboard", "default")
    if not _identifier(dashboard):
        return None
    fields_set = document.keys() & _PUBLISH_OPTIONAL
    fields_set |= _PUBLISH_REQUIRED
    return _finish(  # type: ignore[no-any-return]
        _new(PublishEvent),
        {
            "event_id": event_id,
            "schema_": PUBLISH_SCHEMA,
            "study_id": study_id,
            "published_at": published_us,
            "record_ids": record_ids,
            "data_cutoff": cutoff_us,
            "dashboard": dashboard,
        },
        fields_set,
    )


def query(document: dict[str, Any]) -> QueryEvent | None:
    get = document.get
    event_id = get("event_id")
    query_id = get("query_id")
    study_id = get("study_id")
    site_id = get("site_id")
    status = get("status")
    occurred_at = get("occurred_at")
    if not (
        _identifier(event_id)
        and _identifier(query_id)
        and _identifier(study_id)
        and _identifier(site_id)
        and status.__class__ is str
        and occurred_at.__class__ is str
    ):
        return None
    status = _STATUSES.get(status)
    occurred_us = utc_timestamp_us(occurred_at)
    if status is None or occurred_us is None:
        return None
    record_id = get("record_id")
    form_id = get("form_id")
    country = get("country")
    vendor = get("vendor")
    origin = get("origin")
    if not (
        _optional_identifier(record_id)
        and _optional_identifier(form_id)
        and _optional_country(country)
        and _optional_identifier(vendor)
        and _optional_identifier(origin)
    ):
        return None
    fields_set = document.keys() & _QUERY_OPTIONAL
    fields_set |= _QUERY_REQUIRED
    return _finish(  # type: ignore[no-any-return]
        _new(QueryEvent),
        {
            "event_id": event_id,
            "schema_": QUERY_SCHEMA,
            "query_id": query_id,
            "study_id": study_id,
            "site_id": site_id,
            "status": status,
            "occurred_at": occurred_us,
            "record_id": record_id,
            "form_id": form_id,
            "country": country,
            "vendor": vendor,
            "origin": origin,
        },
        fields_set,
    )


FAST: dict[str, Callable[[dict[str, Any]], EntryEvent | PublishEvent | QueryEvent | None]] = {
    ENTRY_SCHEMA: entry,
    PUBLISH_SCHEMA: publish,
    QUERY_SCHEMA: query,
}
