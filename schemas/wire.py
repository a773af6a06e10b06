"""Events between our own processes, encoded from their one definition (``schemas/events.py``).

Used by the live shard topic (``agents/live/shard_wire.py``, JSON) and by the replay's
processes (``agents/audit/replay/pipeline.py`` and ``parallel.py``, MessagePack). An
event crosses as its contract object (the ``schema`` tag and every field by name),
times as integer microseconds, and is decoded back into the same frozen struct, its
constraints checked again (cheap in msgspec's C code): a field added to an event
needs no edit here, and no reader depends on the order of fields.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.events import Event, wire_hook

_MSGPACK = msgspec.msgpack.Encoder()
_JSON = msgspec.json.Encoder()

encode = _MSGPACK.encode
"""Any structure holding events (lists, tuples, ints, strings) to MessagePack bytes."""

encode_json = _JSON.encode
"""The same as JSON (the shard topic, whose messages are JSON arrays of items)."""


def decoder(kind: Any = list[Event]) -> msgspec.msgpack.Decoder[Any]:
    """A decoder of ``encode``'s bytes into ``kind`` (by default a list of events)."""
    return msgspec.msgpack.Decoder(kind, dec_hook=wire_hook)


def json_decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    """A decoder of ``encode_json``'s bytes into ``kind``."""
    return msgspec.json.Decoder(kind, dec_hook=wire_hook)
