"""A correctable histogram: counts per bucket, a count and an exact integer sum.

Unlike a Prometheus histogram it can take an observation back, which the engine
needs when a late-arriving, earlier publish lowers an entry's latency. Since a
correction only ever lowers a latency, exported cumulative bucket counts still
never decrease.
"""

from __future__ import annotations

from bisect import bisect_left


class Tally:
    __slots__ = ("bounds_us", "bucket_counts", "count", "sum_us", "within_sla")

    def __init__(self, bounds_us: tuple[int, ...]) -> None:
        self.bounds_us = bounds_us
        # Non-cumulative; the last slot holds observations above every bound (+Inf).
        self.bucket_counts = [0] * (len(bounds_us) + 1)
        self.count = 0
        self.sum_us = 0
        self.within_sla = 0

    def add(self, value_us: int, within_sla: bool = False, weight: int = 1) -> None:
        # Prometheus buckets are "less than or equal", hence bisect_left.
        self.bucket_counts[bisect_left(self.bounds_us, value_us)] += weight
        self.count += weight
        self.sum_us += weight * value_us
        if within_sla:
            self.within_sla += weight

    def remove(self, value_us: int, within_sla: bool = False) -> None:
        self.add(value_us, within_sla, weight=-1)

    def cumulative(self) -> list[int]:
        """Counts of observations ≤ each bound, then the total (the +Inf bucket)."""
        running = 0
        out = []
        for c in self.bucket_counts:
            running += c
            out.append(running)
        return out
