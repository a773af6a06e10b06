"""The rules other modules call (streams/latency.py, streams/tally.py), at their boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.latency import (
    arrival,
    entered_at,
    entry_key,
    keys_entered_before,
    overdue_before,
    overdue_from,
    within_sla,
)
from streams.tally import bucket_of

TIMES = st.integers(min_value=0, max_value=1 << 60)
SLAS = st.integers(min_value=1, max_value=1 << 50)


def test_a_latency_equal_to_the_sla_is_within_it() -> None:
    assert within_sla(3_600, 3_600)
    assert not within_sla(3_601, 3_600)


def test_an_entry_is_overdue_once_it_has_waited_longer_than_its_sla() -> None:
    entered, sla = 1_000, 60
    assert overdue_from(entered, sla) == 1_061
    assert not entered < overdue_before(1_060, sla)  # waited exactly the SLA: not overdue
    assert entered < overdue_before(1_061, sla)


@given(TIMES, SLAS, TIMES)
def test_the_two_forms_of_overdue_agree(entered: int, sla: int, as_of: int) -> None:
    overdue = as_of - entered > sla
    assert (entered < overdue_before(as_of, sla)) == overdue
    assert (as_of >= overdue_from(entered, sla)) == overdue


@given(TIMES, st.integers(min_value=1, max_value=(1 << 63) - 1),
       st.integers(min_value=0, max_value=(1 << 32) - 1), TIMES)  # fmt: skip
def test_an_entry_key_gives_back_its_parts_and_orders_by_entry_time(
    entered: int, seq: int, group: int, instant: int
) -> None:
    key = entry_key(entered, seq, group)
    assert (entered_at(key), arrival(key)) == (entered, seq)
    assert (key < keys_entered_before(instant)) == (entered < instant)


def test_a_value_on_a_bucket_bound_is_counted_in_that_bucket() -> None:
    bounds = (10, 20)
    assert [bucket_of(bounds, v) for v in (10, 11, 20, 21)] == [0, 1, 1, 2]
