"""The event contract, version 1: one msgspec definition per event, strict timestamps, parsing."""

# First: the loader that runs a compiled module only while it matches its source.
import schemas.compiled  # noqa: F401
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
