"""The event contract, version 1: one msgspec definition per event, strict timestamps, parsing."""

from schemas.events import (
    ENTRY_SCHEMA,
    PUBLISH_SCHEMA,
    QUERY_SCHEMA,
    STAGE_SCHEMA,
    EntryEvent,
    Event,
    PublishEvent,
    QueryEvent,
    StageEvent,
)
from schemas.parse import Rejection, parse_event
from schemas.timestamps import format_timestamp, parse_timestamp_us, seconds_ms

__all__ = [
    "ENTRY_SCHEMA",
    "PUBLISH_SCHEMA",
    "QUERY_SCHEMA",
    "STAGE_SCHEMA",
    "EntryEvent",
    "Event",
    "PublishEvent",
    "QueryEvent",
    "Rejection",
    "StageEvent",
    "format_timestamp",
    "parse_event",
    "parse_timestamp_us",
    "seconds_ms",
]
