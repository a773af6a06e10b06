"""Bytes in, a validated event or a one-line rejection out. Never raises on bad input."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import orjson

from schemas.events import MODELS, Event, document_hook
from schemas.reasons import problems

# One decoder of the tagged union: the ``schema`` field picks the struct, msgspec's C
# code checks types and constraints, ``document_hook`` parses the timestamps.
_DECODE = msgspec.json.Decoder(Event, dec_hook=document_hook).decode


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message is not a valid event: one line that names the offending field."""

    reason: str


# Whatever else the decoder or the wording raises on one document: deep nesting
# (RecursionError: msgspec's depth limit is the interpreter's, and is not a
# MsgspecError), a huge value (MemoryError), a hook's surprise. Worded by its kind
# only: its text may quote the input.
_UNREADABLE = {
    RecursionError: "not JSON: nested too deeply",
    MemoryError: "not JSON: too large to read",
}


def parse_event(payload: bytes | bytearray | memoryview | str) -> Event | Rejection:
    """Parse one message value (a UTF-8 JSON object) into an event, or say why not.

    Never raises on any input: a failure of one message is that message's rejection.
    """
    try:
        return _DECODE(payload)  # type: ignore[no-any-return]
    except msgspec.MsgspecError:
        pass
    except Exception as error:  # one message must never stop the stream
        return unreadable(error)
    try:
        return _rejection(payload)
    except Exception as error:  # as above, for the slow wording of a refusal
        return unreadable(error)


def unreadable(error: BaseException) -> Rejection:
    """The rejection of a message whose reading failed unexpectedly: its kind, never its text."""
    for kind, reason in _UNREADABLE.items():
        if isinstance(error, kind):
            return Rejection(reason)
    return Rejection(f"not a document this monitor reads ({type(error).__name__})")


def _rejection(payload: bytes | bytearray | memoryview | str) -> Rejection:
    """Why the decoder refused ``payload``, in the contract's words (slow; refusals only)."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        return Rejection(f"not JSON: {' '.join(str(error).split())}")
    if not isinstance(document, dict):
        return Rejection(f"not a JSON object: got {type(document).__name__}")
    schema = document.get("schema")
    if not isinstance(schema, str):
        return Rejection("schema: missing or not a string")
    model = MODELS.get(schema)
    if model is None:
        # Not echoed: a reason goes to logs and headers, and never carries input values.
        return Rejection(f"schema: unknown schema (expected one of {', '.join(MODELS)})")
    found = problems(model, document)
    if not found:
        # orjson read what msgspec would not (e.g. a number beyond a double's range).
        return Rejection("not JSON: not a document this monitor reads")
    text = f"{schema}: {found[0]}"
    if len(found) > 1:
        text += f" (+{len(found) - 1} more)"
    return Rejection(" ".join(text.split()))  # one line, always
