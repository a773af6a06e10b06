"""Bytes in, a validated event or a one-line rejection out. Never raises on bad input."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from schemas.events import MODELS, Event
from schemas.fastpath import FAST


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message is not a valid event: one line that names the offending field."""

    reason: str


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)


def _reason_from(schema: str, error: ValidationError) -> str:
    first = error.errors(include_url=False, include_context=False, include_input=False)[0]
    message = str(first["msg"])
    # Our own validators raise ValueError; pydantic prefixes their text.
    message = message.removeprefix("Value error, ")
    where = _location(tuple(first["loc"]))
    if where == "schema":
        where = ""  # the schema tag matched the dispatch; a further error is elsewhere
    text = f"{schema}: {where}: {message}" if where else f"{schema}: {message}"
    extra = error.error_count() - 1
    if extra:
        text += f" (+{extra} more)"
    return " ".join(text.split())  # one line, always


def parse_event(payload: bytes | bytearray | memoryview | str) -> Event | Rejection:
    """Parse one message value (a UTF-8 JSON object) into an event, or say why not."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        return Rejection(f"not JSON: {' '.join(str(error).split())}")
    if not isinstance(document, dict):
        return Rejection(f"not a JSON object: got {type(document).__name__}")
    schema = document.get("schema")
    if not isinstance(schema, str):
        return Rejection("schema: missing or not a string")
    fast = FAST.get(schema)
    if fast is not None:
        event = fast(document)
        if event is not None:
            return event
    model = MODELS.get(schema)
    if model is None:
        # Not echoed: a reason goes to logs and headers, and never carries input values.
        return Rejection(f"schema: unknown schema (expected one of {', '.join(MODELS)})")
    # Anything the fast path is unsure of: pydantic decides, and words the rejection.
    try:
        return model.model_validate(document)
    except ValidationError as error:
        return Rejection(_reason_from(schema, error))
