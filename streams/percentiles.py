"""Nearest-rank percentiles, the definition of the contract."""

from __future__ import annotations

from collections.abc import Sequence


def nearest_rank(sorted_values: Sequence[int], p: float) -> int | None:
    """The value at rank ⌈p/100 · n⌉ of an ascending list; None when it is empty."""
    n = len(sorted_values)
    if n == 0:
        return None
    # Integer arithmetic so that e.g. 95% of 20 is exactly rank 19.
    numerator = round(p * 1000) * n
    rank = -(-numerator // 100_000)
    return sorted_values[max(rank, 1) - 1]
