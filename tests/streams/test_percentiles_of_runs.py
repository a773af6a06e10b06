"""Percentiles over sorted runs (streams/percentiles.py ``nearest_rank_of_runs``,
``LatencyFigures.of_sorted_runs``): the merges of the replay take them over the parts'
runs instead of sorting the parts together; every answer equals the sorted list's."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from streams.figures import LatencyFigures
from streams.percentiles import count_at_most, nearest_rank, nearest_rank_of_runs

# Latencies in µs can pass 2^62 only in theory; negatives and repeats are drawn as well.
values = st.integers(-(2**62), 2**62) | st.integers(-3, 3)
runs = st.lists(st.lists(values, max_size=12).map(sorted), max_size=6)
percents = st.sampled_from([0, 1, 50, 95, 99, 99.9, 100]) | st.floats(0, 100)


def _together(parts: list[list[int]]) -> list[int]:
    return sorted(value for run in parts for value in run)


@given(runs=runs, p=percents, as_arrays=st.booleans())
def test_the_value_at_a_rank_of_runs_is_that_of_the_runs_sorted_together(runs, p, as_arrays):
    parts = [array("q", run) for run in runs] if as_arrays else runs
    assert nearest_rank_of_runs(parts, p) == nearest_rank(_together(runs), p)


@given(runs=runs, value=values)
def test_counting_the_values_at_most_one_counts_every_run(runs, value):
    assert count_at_most(runs, value) == len([v for v in _together(runs) if v <= value])


@given(
    runs=runs,
    sla_us=values,
    waiting=st.integers(0, 5),
    over_sla=st.none() | st.integers(0, 50),
)
def test_latency_figures_of_sorted_runs_equal_those_of_the_values(runs, sla_us, waiting, over_sla):
    assert LatencyFigures.of_sorted_runs(runs, sla_us, waiting, over_sla) == LatencyFigures.of(
        [value for run in runs for value in run], sla_us, waiting, over_sla
    )


def test_a_rank_at_the_border_of_two_runs_and_repeated_values():
    # 20 values: p95 is rank 19 exactly, the last value of the first run here.
    first, second = list(range(1, 20)), [19, 25]
    assert nearest_rank_of_runs([first, second], 95) == 19
    assert nearest_rank_of_runs([second, first], 100) == 25
    assert nearest_rank_of_runs([[5, 5, 5], [5]], 50) == 5
    assert nearest_rank_of_runs([[], []], 50) is None
    # The latency equal to the SLA is within it (≤), on either run.
    figures = LatencyFigures.of_sorted_runs([[1, 6], [6, 7]], 6)
    assert (figures.within_sla, figures.over_sla, figures.max_us) == (3, 1, 7)
