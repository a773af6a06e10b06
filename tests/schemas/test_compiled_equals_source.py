"""The validator as installed (its timestamps and events compiled where a compiler was
found, setup.py) equals its source: same event or same rejection for any message.

The reference is a second Python process that loads every module from source
(``EDC_LATENCY_INTERPRETED=1``): msgspec resolves the events' annotations through
``sys.modules``, so an interpreted copy of ``schemas/`` cannot share this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import to_builtins

import schemas.timestamps
from schemas import parse_event
from schemas.compiled import INTERPRETED_ENV
from tests.schemas.documents import documents, instants, timestamps
from tests.schemas.hostile import hostile_values

# The reference: one request per line, [recursion limit, kind, argument] -> the outcome as
# JSON. Hypothesis raises this process's recursion limit, which decides "nested too deeply".
_REFERENCE = r"""
import sys, orjson
from msgspec import to_builtins
from schemas import parse_event
from schemas.compiled import STATUS
from schemas.timestamps import TimestampFormatter, format_timestamp, parse_timestamp_us
from schemas.timestamps import digits_timestamp_us, offset_timestamp_us, utc_timestamp_us
assert "compiled" not in STATUS.values(), STATUS
def outcome(kind, argument):
    if kind == "parse":
        result = parse_event(bytes.fromhex(argument))
        if type(result).__name__ == "Rejection":
            return ["Rejection", result.reason]
        return [type(result).__name__, to_builtins(result)]
    if kind == "timestamp":
        try:
            parsed = parse_timestamp_us(argument)
        except ValueError as error:
            parsed = str(error)
        fast = [f(argument) for f in (utc_timestamp_us, offset_timestamp_us, digits_timestamp_us)]
        return [*fast, parsed]
    return [format_timestamp(argument), TimestampFormatter()(argument)]
for line in sys.stdin.buffer:
    limit, kind, argument = orjson.loads(line)
    sys.setrecursionlimit(limit)  # msgspec's depth limit is the interpreter's
    sys.stdout.buffer.write(orjson.dumps(outcome(kind, argument)) + b"\n")
    sys.stdout.buffer.flush()
"""


class Reference:
    def __init__(self) -> None:
        env = {**os.environ, INTERPRETED_ENV: "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _REFERENCE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )

    def __call__(self, kind: str, argument: object) -> object:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = [sys.getrecursionlimit(), kind, argument]
        self.process.stdin.write(orjson.dumps(request) + b"\n")
        self.process.stdin.flush()
        return orjson.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def reference() -> Iterator[Reference]:
    started = Reference()
    yield started
    started.close()


def _parsed(payload: bytes) -> object:
    result = parse_event(payload)
    if type(result).__name__ == "Rejection":
        return ["Rejection", result.reason]  # type: ignore[union-attr]
    return orjson.loads(orjson.dumps([type(result).__name__, to_builtins(result)]))


@settings(max_examples=300, deadline=None)
@given(documents())
def test_valid_documents_decode_alike(reference, document):
    payload = orjson.dumps(document)
    assert _parsed(payload) == reference("parse", payload.hex())


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_values())
def test_hostile_values_are_refused_alike(reference, payload):
    assert _parsed(payload) == reference("parse", payload.hex())


# Timestamps as producers write them, near misses of their shape, and any text.
_NEAR_TIMESTAMPS = st.one_of(
    instants.flatmap(timestamps),
    st.text(alphabet="0123456789-:T+.Zz _²٣", min_size=18, max_size=36),
    st.text(max_size=40),
)


@settings(max_examples=1000, deadline=None)
@given(_NEAR_TIMESTAMPS)
def test_timestamps_parse_alike(reference, text):
    # Compiled, parse_timestamp_us takes the typed character path (schemas/timestamps.pxd);
    # the source takes its cached one: equal instants, and the same words for a refusal.
    try:
        parsed: object = schemas.timestamps.parse_timestamp_us(text)
    except ValueError as error:
        parsed = str(error)
    module = schemas.timestamps
    fast = [f(text) for f in (module.utc_timestamp_us, module.offset_timestamp_us,
                              module.digits_timestamp_us)]  # fmt: skip
    assert [*fast, parsed] == reference("timestamp", text)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**15), 10**17))
def test_timestamps_format_alike(reference, us):
    formatted = [schemas.timestamps.format_timestamp(us), schemas.timestamps.TimestampFormatter()(us)]
    assert formatted == reference("format", us)
