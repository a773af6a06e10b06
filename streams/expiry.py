"""Which hours fall behind the retention horizon, found without visiting the hours that stay.

State kept for live use is filed by hour (of entry, event or publish time), and every
pruning forgets the hours wholly before the horizon. Listing them by scanning every
filed hour cost each pruning the whole retained state: with the horizon held back 90
days (streams/watermarks.py), ~2,200 hours per dictionary and every record with a
publish time, once per hour of event time (BENCHMARKS.md, "Pruning without scans").

A min-heap of the filed hours answers instead, with what leaves the horizon only. It is
derived state: built from the dictionary at the first pruning (a replay never prunes, so
never builds one, and a restored engine builds its own), then fed each hour the owner
files from then on. Hours forgotten by other means (eviction, a stage ledger's own rule)
stay in the heap until they come out, and are skipped as absent then; an hour filed
twice comes out twice, next to itself, and counts once.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from heapq import heapify, heappop


def hour_heap(hours: Iterable[int]) -> list[int]:
    """A heap of the given hours, for ``hours_before``."""
    heap = list(hours)
    heapify(heap)
    return heap


def hours_before(heap: list[int], limit_hour: int, filed: Container[int]) -> list[int]:
    """Take the hours below ``limit_hour`` off the heap: those still filed, ascending, once each."""
    out: list[int] = []
    while heap and heap[0] < limit_hour:
        hour = heappop(heap)
        if hour in filed and (not out or out[-1] != hour):
            out.append(hour)
    return out
