"""Nearest-rank percentiles, the definition of the contract."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence


def nearest_rank(sorted_values: Sequence[int], p: float) -> int | None:
    """The value at rank ⌈p/100 · n⌉ of an ascending list; None when it is empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    return sorted_values[_rank(n, p) - 1]


def _rank(n: int, p: float) -> int:
    """⌈p/100 · n⌉, at least 1, for n values."""
    # Integer arithmetic so that e.g. 95% of 20 is exactly rank 19.
    numerator = round(p * 1000) * n
    return max(-(-numerator // 100_000), 1)


def nearest_rank_of_runs(runs: Sequence[Sequence[int]], p: float) -> int | None:
    """``nearest_rank`` of the values of every run together, each run ascending.

    The parts of a merge (shards, groups, scopes) arrive as sorted runs: the value at a
    rank is found by bisecting every run over the values' range (~40 rounds for
    latencies in µs, a few runs each) instead of merging and sorting them, which cost
    ~0.3 µs a value (CPython compares integers over 2^30 one by one).
    """
    runs = [run for run in runs if len(run)]
    n = sum(len(run) for run in runs)
    if n == 0:
        return None
    rank = _rank(n, p)
    if len(runs) == 1:
        return runs[0][rank - 1]
    # The smallest value v with at least ``rank`` values ≤ v is the value at that rank.
    low = min(run[0] for run in runs)
    high = max(run[-1] for run in runs)
    while low < high:
        middle = (low + high) // 2
        if sum(bisect_right(run, middle) for run in runs) >= rank:
            high = middle
        else:
            low = middle + 1
    return low


def count_at_most(runs: Iterable[Sequence[int]], value: int) -> int:
    """How many values of the ascending runs are ≤ ``value``."""
    return sum(bisect_right(run, value) for run in runs)
