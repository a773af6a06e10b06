"""Time to breach: pending entries by the time left before their deadline, as of T.

An entry's deadline is ``entered_at + SLA``. The boundary is the over-SLA rule's
(streams/latency.py, docs/kpis.md): "within SLA" is latency ≤ SLA, so a publish *at*
the deadline is still in time, and an entry is **breached** as of T only when its
deadline lies strictly before T (``deadline < T``, the backlog's ``overdue``). With
``left = deadline − T`` and the edges e₁ < e₂ < … (settings, default 1 h, 4 h, 24 h):

* breached: ``left < 0``;
* bucket i: ``e₍ᵢ₋₁₎ ≤ left < eᵢ`` (e₀ = 0: a deadline equal to T has 0 left, in the first);
* later: ``left ≥`` the last edge.

The **earliest upcoming deadline** is the smallest deadline ≥ T among them.

Nothing is stored for this: the figures are read at the question from the pending
entries the ledger holds anyway (hour buckets counted whole when the whole hour falls
in one bucket), so memory stays O(pending) and a publish costs what it did.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from schemas.timestamps import US_PER_HOUR
from streams.latency import BUCKET_US, GroupLedger, entered_at

DEFAULT_TIME_LEFT_EDGES_US: tuple[int, ...] = (US_PER_HOUR, 4 * US_PER_HOUR, 24 * US_PER_HOUR)


def time_left_bucket_names(edges_us: Sequence[int]) -> tuple[str, ...]:
    """Labels of the buckets: ``breached``, ``lt_1h``-style names per edge, ``later``."""
    return ("breached", *(f"lt_{_duration_name(edge)}" for edge in edges_us), "later")


def _duration_name(us: int) -> str:
    for unit, size in (("h", US_PER_HOUR), ("m", 60_000_000)):  # 24h, not 1d: as it is set
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us // 1_000_000}s" if us % 1_000_000 == 0 else f"{us}us"


@dataclass(frozen=True, slots=True)
class PendingSplit:
    """Pending entries as of T split by entry time at ascending cuts.

    ``counts[i]``: entries with ``cuts[i−1] ≤ entered < cuts[i]`` (``counts[0]``: before
    ``cuts[0]``, the last: at or after the last cut). ``first_from``: the earliest entry
    time at or after the instant asked for (None when there is none).
    """

    counts: tuple[int, ...]
    first_from: int | None


def split_pending(
    groups: Iterable[GroupLedger], as_of_us: int, cuts: Sequence[int], first_from: int
) -> PendingSplit:
    """Count the entries pending as of T (entered ≤ T, no covering publish ≤ T) between
    cuts, and find the earliest entered at or after ``first_from`` (one of the cuts).

    Pending as of T is what ``GroupLedger.backlog`` counts: the ledger's pending entries
    entered by T, and published entries whose (earliest) publish came after T.
    """
    counts = [0] * (len(cuts) + 1)
    first: int | None = None
    low = first_from
    for group in groups:
        for bucket, entries in group.pending.items():
            start = bucket * BUCKET_US
            if start > as_of_us:
                continue
            end = start + BUCKET_US - 1
            index = bisect_right(cuts, start)
            if end <= as_of_us and index == bisect_right(cuts, end):
                # The whole hour lies between two cuts: counted by its length.
                counts[index] += len(entries)
                if start >= low and (first is None or start < first):
                    oldest = entered_at(min(entries))
                    if first is None or oldest < first:
                        first = oldest
                continue
            for key in entries:
                entered_us = entered_at(key)
                if entered_us <= as_of_us:
                    counts[bisect_right(cuts, entered_us)] += 1
                    if entered_us >= low and (first is None or entered_us < first):
                        first = entered_us
        for bucket, published in group.published.items():
            if bucket * BUCKET_US > as_of_us or group.max_published[bucket] <= as_of_us:
                continue
            for key, when in published.items():
                entered_us = entered_at(key)
                if entered_us <= as_of_us < when:
                    counts[bisect_right(cuts, entered_us)] += 1
                    if entered_us >= low and (first is None or entered_us < first):
                        first = entered_us
    return PendingSplit(tuple(counts), first)


@dataclass(frozen=True, slots=True)
class TimeToBreach:
    """Pending entries by time left (breached, one per edge, later), the earliest upcoming
    deadline, and the certain breaches before the next expected publish (None: no
    schedule, nor a learned cadence, to say when that is)."""

    by_time_left: tuple[int, ...]
    earliest_deadline_us: int | None
    certain_breaches: int | None = None
    next_publish_us: int | None = None

    @property
    def pending(self) -> int:
        return sum(self.by_time_left)


def time_to_breach(
    groups: Iterable[GroupLedger],
    sla_us: int,
    as_of_us: int,
    edges_us: Sequence[int],
    next_publish_us: int | None = None,
) -> TimeToBreach:
    """The figures of one study and dashboard (or one breakdown group of it) as of T.

    **Certain breaches**: pending entries whose deadline is not yet passed but falls
    before the next expected publish, ``T ≤ deadline < next_publish``: a publish at
    ``next_publish`` would give them a latency over the SLA, and only an off-cycle
    publish now saves them (those already breached are counted as breached, not here).
    """
    due = as_of_us - sla_us  # entered before it: deadline < T, breached
    limits = [due + edge for edge in edges_us]
    cuts = sorted([due, *limits] + ([] if next_publish_us is None else [next_publish_us - sla_us]))
    split = split_pending(groups, as_of_us, cuts, due)
    prefix = [0]
    for count in split.counts:
        prefix.append(prefix[-1] + count)

    def before(instant: int) -> int:
        # Entries entered before a cut: an entry at cuts[j] has bisect_right index > j, so
        # the intervals up to the cut's (any of equal cuts') hold exactly those before it.
        return prefix[cuts.index(instant) + 1]

    bounds = [before(due), *(before(limit) for limit in limits)]
    by_time_left = (
        bounds[0],
        *(high - low for low, high in pairwise(bounds)),
        prefix[-1] - bounds[-1],
    )
    certain = None
    if next_publish_us is not None:
        certain = max(0, before(next_publish_us - sla_us) - bounds[0])
    earliest = None if split.first_from is None else split.first_from + sla_us
    return TimeToBreach(by_time_left, earliest, certain, next_publish_us)


def merge_time_to_breach(parts: Iterable[TimeToBreach]) -> TimeToBreach | None:
    """Parts of one study and dashboard (breakdown groups, shards): counts add, the
    earliest deadline is the smallest; the next publish is the dashboard's, the same in each."""
    merged: TimeToBreach | None = None
    for part in parts:
        if merged is None:
            merged = part
            continue
        earliest = merged.earliest_deadline_us
        if part.earliest_deadline_us is not None and (
            earliest is None or part.earliest_deadline_us < earliest
        ):
            earliest = part.earliest_deadline_us
        certain = merged.certain_breaches
        if part.certain_breaches is not None:
            certain = part.certain_breaches + (certain or 0)
        merged = TimeToBreach(
            tuple(a + b for a, b in zip(merged.by_time_left, part.by_time_left, strict=True)),
            earliest,
            certain,
            merged.next_publish_us if merged.next_publish_us is not None else part.next_publish_us,
        )
    return merged
