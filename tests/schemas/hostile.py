"""Hostile message values, generated: what a producer with write access could send.

Arbitrary bytes, and valid documents made hostile: nesting thousands deep in any
position (the top level, a known field, an unknown field, an item of a list), huge
arrays, many keys, invalid UTF-8 spliced in anywhere, cut anywhere. Every string a
producer chooses holds ``MARK``, so a test can tell that no reason echoes input.
Used by tests/schemas/test_hostile_parse.py and tests/agents/live/test_routing.py.
"""

from __future__ import annotations

import orjson
from hypothesis import strategies as st

MARK = "Zq7"  # in every producer-chosen name and value below; never in a reason of ours

_ENTRY = {
    "schema": "edc.entry/1", "event_id": f"e-{MARK}", "study_id": "ONC-1", "site_id": "s1",
    "subject_id": f"sub-{MARK}", "form_id": "f", "record_id": f"r-{MARK}",
    "entered_at": "2026-01-01T00:00:00Z",
}  # fmt: skip
_PUBLISH = {
    "schema": "dashboard.publish/1", "event_id": f"p-{MARK}", "study_id": "ONC-1",
    "published_at": "2026-01-01T01:00:00Z", "record_ids": [f"r-{MARK}"],
}  # fmt: skip
_QUERY = {
    "schema": "edc.query/1", "event_id": f"q-{MARK}", "query_id": f"Q-{MARK}",
    "study_id": "ONC-1", "site_id": "s1", "status": "opened",
    "occurred_at": "2026-01-01T02:00:00Z",
}  # fmt: skip
_STAGE = {
    "schema": "pipeline.stage/1", "event_id": f"t-{MARK}", "study_id": "ONC-1",
    "stage": f"transform-{MARK}", "completed_at": "2026-01-01T00:30:00Z",
    "record_ids": [f"r-{MARK}"],
}  # fmt: skip
BASES = (_ENTRY, _PUBLISH, _QUERY, _STAGE)

# Byte sequences no UTF-8 decoder accepts: a lone continuation byte, an overlong NUL,
# an encoded surrogate, a truncated sequence, bytes never used.
INVALID_UTF8 = (b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xff", b"\xfe\xfe")


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return f'{{"{MARK}":'.encode() * depth + b"0" + b"}" * depth
    half = depth // 2  # arrays of objects of arrays ...
    return (f'[{{"{MARK}":'.encode()) * half + b"1" + b"}]" * half


def _splice(base: dict[str, object], field: str, raw: bytes) -> bytes:
    """``base`` as JSON with ``field`` (known or not) holding the raw JSON ``raw``."""
    body = orjson.dumps({k: v for k, v in base.items() if k != field})
    return body[:-1] + b"," + orjson.dumps(field) + b":" + raw + b"}"


@st.composite
def deep_documents(draw: st.DrawFn) -> bytes:
    """Nesting from one to many thousands deep, in every position of a document."""
    depth = draw(st.integers(1, 6000) | st.sampled_from([127, 128, 255, 256, 1000, 1024, 1025]))
    nested = _nested(depth, draw(st.sampled_from(["array", "object", "mixed"])))
    base = draw(st.sampled_from(BASES))
    where = draw(st.sampled_from(["top", "known", "unknown", "item", "first"]))
    if where == "top":
        return nested
    if where == "first":  # before every known field: the decoder meets it first
        return b'{"' + MARK.encode() + b'":' + nested + b"," + orjson.dumps(base)[1:]
    if where == "item":
        return _splice(base, "record_ids", b'["r1",' + nested + b"]")
    field = draw(st.sampled_from(sorted(base))) if where == "known" else f"x-{MARK}"
    return _splice(base, field, nested)


@st.composite
def wide_documents(draw: st.DrawFn) -> bytes:
    """Huge arrays and many keys, in known and unknown fields."""
    base = draw(st.sampled_from(BASES))
    count = draw(st.integers(0, 60_000))
    shape = draw(st.sampled_from(["zeros", "ids", "keys", "empty-ids"]))
    if shape == "zeros":
        raw = b"[" + b",".join([b"0"] * count) + b"]"
        field = draw(st.sampled_from(["record_ids", f"x-{MARK}"]))
    elif shape == "ids":
        raw = orjson.dumps([f"r{i}-{MARK}" for i in range(count)])
        field = "record_ids"
    elif shape == "empty-ids":
        raw = orjson.dumps([""] * count)
        field = "record_ids"
    else:
        raw = orjson.dumps({f"k{i}-{MARK}": i for i in range(count)})
        field = draw(st.sampled_from([f"x-{MARK}", "study_id", "event_id"]))
    return _splice(base, field, raw)


@st.composite
def broken_documents(draw: st.DrawFn) -> bytes:
    """A valid document with invalid UTF-8 spliced in, or cut, at any position."""
    payload = orjson.dumps(draw(st.sampled_from(BASES)))
    at = draw(st.integers(0, len(payload)))
    if draw(st.booleans()):
        return payload[:at]
    return payload[:at] + draw(st.sampled_from(INVALID_UTF8)) + payload[at:]


def hostile_values() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=2000),
        deep_documents(),
        wide_documents(),
        broken_documents(),
        st.sampled_from(BASES).map(orjson.dumps),  # the valid ones they are made from
    )


def poison_message() -> bytes:
    """The probe's message: ~2 KB, 1,000 nested arrays in an unknown field of an entry."""
    return _splice(_ENTRY, "note", _nested(1000, "array"))
