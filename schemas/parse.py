"""Bytes in, a validated event or a one-line rejection out. Never raises on bad input."""

from __future__ import annotations

import re
import sys
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


TOO_DEEP = "not JSON: nested too deeply"

# Whatever else the decoder or the wording raises on one document: a huge value
# (MemoryError), a hook's surprise, deep nesting met outside the decoder. Worded by its
# kind only: its text may quote the input.
_UNREADABLE = {
    RecursionError: TOO_DEEP,
    MemoryError: "not JSON: too large to read",
}

# The depth a document may reach, in arrays and objects, counting itself: the
# interpreter's recursion limit (1,000 unless the process raises it). A caller with a
# shallow stack cannot decode deeper, so no caller may accept more.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENING = frozenset(b"[{")


def parse_event(payload: bytes | bytearray | memoryview | str) -> Event | Rejection:
    """Parse one message value (a UTF-8 JSON object) into an event, or say why not.

    Never raises on any input: a failure of one message is that message's rejection.
    """
    try:
        return _DECODE(payload)  # type: ignore[no-any-return]
    except msgspec.MsgspecError:
        pass
    except RecursionError:
        return _parsed_with_room(payload)
    except Exception as error:  # one message must never stop the stream
        return unreadable(error)
    try:
        return _rejection(payload)
    except Exception as error:  # as above, for the slow wording of a refusal
        return unreadable(error)


def nesting_depth(payload: bytes, stop_above: int) -> int:
    """How deep ``payload``'s arrays and objects nest outside strings; stops above ``stop_above``."""
    brackets = _STRING.sub(b"", payload).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def _parsed_with_room(payload: bytes | bytearray | memoryview | str) -> Event | Rejection:
    """``parse_event`` for a document that exhausted the caller's stack.

    msgspec's depth limit is what is left of the interpreter's: the same message would
    be an event in a replay's shallow stack and "nested too deeply" in a worker's deep
    one. So the document's own depth decides, and a document within the limit is
    decoded again with room for it, as a shallow caller would.
    """
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    limit = sys.getrecursionlimit()
    depth = nesting_depth(data, limit)
    if depth > limit:
        return Rejection(TOO_DEEP)
    sys.setrecursionlimit(limit + 2 * depth + 100)
    try:
        try:
            return _DECODE(payload)  # type: ignore[no-any-return]
        except msgspec.MsgspecError:
            return _rejection(payload)
    except Exception as error:  # one message must never stop the stream
        return unreadable(error)
    finally:
        sys.setrecursionlimit(limit)


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
