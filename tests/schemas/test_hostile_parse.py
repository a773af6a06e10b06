"""No message can make parsing raise: every value is an event or a one-line rejection.

The probe's poison message (1,000 nested arrays in an unknown field) made msgspec
raise RecursionError, which is not a MsgspecError, through ``parse_event``. These
properties feed generated hostile values (tests/schemas/hostile.py) through
``parse_bounded``; ``make fuzz`` runs them with many more examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings

from schemas import Event, Rejection, parse_event
from schemas.limits import parse_bounded
from tests.schemas.hostile import MARK, hostile_values, poison_message

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
def test_hostile_values_are_rejections_also_deep_in_the_call_stack(value):
    # msgspec's depth limit is what is left of the interpreter's: a worker's stack is
    # deeper than a test's, so the same value may fail elsewhere there. Fail it here too.
    def at_depth(n: int) -> Event | Rejection:
        return at_depth(n - 1) if n else parse_bounded(value, 1 << 26, NOT_AFTER_US)

    result = at_depth(900)
    assert isinstance(result, Event | Rejection)
    if isinstance(result, Rejection):
        _one_line_of_ours(result.reason)
