"""No message can make parsing raise: every value is an event or a one-line rejection.

The probe's poison message (1,000 nested arrays in an unknown field) made msgspec
raise RecursionError, which is not a MsgspecError, through ``parse_event``. These
properties feed generated hostile values (tests/schemas/hostile.py) through
``parse_bounded``; ``make fuzz`` runs them with many more examples.
"""

from __future__ import annotations

import os
import sys

import orjson
from hypothesis import HealthCheck, given, settings

from schemas import Event, Rejection, parse_event
from schemas.limits import parse_bounded
from schemas.parse import nesting_depth
from tests.schemas.hostile import BASES, MARK, hostile_values, poison_message

FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
EXAMPLES = 20_000 if FUZZ else 500
NOT_AFTER_US = 1_767_225_600_000_000 + 3_600_000_000  # 2026-01-01T01:00Z


def _one_line_of_ours(reason: str) -> None:
    assert reason and "\n" not in reason and len(reason) < 300
    assert MARK not in reason  # names fields and bounds, never echoes the producer's text


def test_the_probes_poison_message_is_a_rejection_not_an_exception():
    poison = poison_message()
    assert len(poison) in range(1901, 2200)  # about 2 KB, as the probe's
    result = parse_event(poison)
    assert result == Rejection("not JSON: nested too deeply")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_values())
def test_hostile_values_parse_to_an_event_or_a_one_line_rejection(value):
    for max_bytes in (1 << 26, 2048):
        result = parse_bounded(value, max_bytes, NOT_AFTER_US)
        assert isinstance(result, Event | Rejection)
        if isinstance(result, Rejection):
            _one_line_of_ours(result.reason)


@settings(max_examples=EXAMPLES // 5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_values())
def test_hostile_values_parse_alike_at_any_depth_of_the_call_stack(value):
    # msgspec's depth limit is what is left of the interpreter's, and a worker's stack is
    # deeper than a replay's: the same message must still get the same outcome in both.
    def at_depth(n: int) -> Event | Rejection:
        return at_depth(n - 1) if n else parse_bounded(value, 1 << 26, NOT_AFTER_US)

    shallow = parse_bounded(value, 1 << 26, NOT_AFTER_US)
    assert at_depth(900) == shallow
    if isinstance(shallow, Rejection):
        _one_line_of_ours(shallow.reason)


def _with_unknown_field_nested(levels: int, opening: bytes, closing: bytes) -> bytes:
    entry = orjson.dumps(BASES[0])
    return entry[:-1] + b',"note":' + opening * levels + b"0" + closing * levels + b"}"


def test_a_document_as_deep_as_the_recursion_limit_is_read_one_level_more_is_not():
    # Counting the document itself: its own object plus levels - 1 in the unknown field.
    limit = sys.getrecursionlimit()
    for opening, closing in ((b"[", b"]"), (b'{"a":', b"}")):
        at_limit = _with_unknown_field_nested(limit - 1, opening, closing)
        over = _with_unknown_field_nested(limit, opening, closing)
        assert nesting_depth(at_limit, limit) == limit
        assert isinstance(parse_event(at_limit), Event)
        assert parse_event(over) == Rejection("not JSON: nested too deeply")


def test_brackets_inside_strings_are_not_nesting():
    text = b'"' + b"[{" * 3000 + b'\\\"[[' + b'"'
    assert nesting_depth(b'{"note":[' + text + b"]}", 10_000) == 2
