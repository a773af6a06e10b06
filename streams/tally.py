"""A histogram whose exported series never decrease: counts per bucket, a count, an exact sum.

A Prometheus counter or histogram series that goes down reads as a reset, and
``rate()`` (so every burn rate) jumps. Two kinds of late events would lower one:

* a late-arriving, earlier publish lowers an entry's latency (``lower``): the
  observation moves to a lower bucket, so cumulative bucket counts, the count and
  ``within_sla`` only grow; the sum keeps the latency as first observed and the
  reduction is counted apart, in ``corrected_us`` (exact sum = sum − corrected);
* a late query event reorders a query's history (``withdraw``): an observation no
  longer holds. It stays in the buckets, count and sum (observed once, never taken
  back) and is counted in ``withdrawn`` and ``corrected_us``.

docs/kpis.md ("Corrections") says why corrections are counters of their own rather
than observations held back until final: a latency can be lowered for as long as
the retention (7 days), so a final observation would come a week late.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence


def bucket_of(bounds: Sequence[int], value: int) -> int:
    """The bucket a value is counted in: the first whose bound it does not exceed
    (Prometheus buckets are "less than or equal", hence bisect_left); past the last
    bound, the overflow bucket ``len(bounds)``."""
    return bisect_left(bounds, value)


class Tally:
    __slots__ = (
        "bounds_us",
        "breaches_withdrawn",
        "bucket_counts",
        "corrected_us",
        "count",
        "sum_us",
        "withdrawn",
        "within_sla",
    )

    def __init__(self, bounds_us: tuple[int, ...]) -> None:
        self.bounds_us = bounds_us
        # Non-cumulative; the last slot holds observations above every bound (+Inf).
        self.bucket_counts = [0] * (len(bounds_us) + 1)
        self.count = 0
        self.sum_us = 0  # of observations as first made
        self.within_sla = 0
        self.corrected_us = 0  # taken off the sum by corrections since
        self.withdrawn = 0  # observations that no longer hold (query reorders)
        # Entries counted over SLA when their deadline passed, then shown published in
        # time by a late-arriving, earlier publish (streams/latency.py, "Breaches").
        self.breaches_withdrawn = 0

    def add(self, value_us: int, within_sla: bool = False) -> None:
        # bucket_of, written out: this runs per entry published before it arrived and per
        # query observation (14% of the bench's events), and the call was one more each.
        self.bucket_counts[bisect_left(self.bounds_us, value_us)] += 1
        self.count += 1
        self.sum_us += value_us
        if within_sla:
            self.within_sla += 1

    def lower(self, old_us: int, new_us: int, was_within: bool, is_within: bool) -> None:
        """An observation lowered from old to new: moved down a bucket (or not), never removed."""
        counts, bounds = self.bucket_counts, self.bounds_us
        counts[bisect_left(bounds, old_us)] -= 1  # bucket_of, written out as in add
        counts[bisect_left(bounds, new_us)] += 1
        self.corrected_us += old_us - new_us
        if is_within and not was_within:
            self.within_sla += 1

    def withdraw(self, value_us: int) -> None:
        """An observation that no longer holds: counted as withdrawn, kept in the series."""
        self.withdrawn += 1
        self.corrected_us += value_us

    def cumulative(self) -> list[int]:
        """Counts of observations ≤ each bound, then the total (the +Inf bucket)."""
        running = 0
        out = []
        for c in self.bucket_counts:
            running += c
            out.append(running)
        return out
