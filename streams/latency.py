"""The latency rules: which publish covers which entry, and the backlog it leaves.

Contract, version 1 (docs/contract.md):

* Publish P covers entry E when they share study and dashboard and either
  E.entered_at ≤ P.data_cutoff (snapshot publish), or E.record_id is in
  P.record_ids and E.entered_at ≤ P.published_at (record-level publish).
* Latency of E = earliest P.published_at among its covering publishes − E.entered_at.
  An entry is pending as of T until a covering publish with published_at ≤ T.

Because only the *earliest* covering publish matters, one number per entry and
dashboard (``published_us``) answers every "as of T" question: E is published as
of T exactly when ``published_us ≤ T``. Arrival order never matters; a publish
that arrives before its entries is remembered (snapshot cutoffs as a Pareto
frontier, record publishes per record) and applied when they come.

State is laid out for live use: per study and dashboard, so a publish never
touches another study; pending entries in buckets of one hour of entry time, so
a snapshot publish visits only the buckets its cutoff reaches and the entries it
covers; and published entries kept only as long as a late, earlier publish could
still lower their latency (the retention).

Breaches (docs/kpis.md, "Over SLA"): an entry is over its SLA once its deadline
(entered + SLA) has passed in event time without a covering publish at or before
the deadline, counted once, whether it is published later or not. The engine's
clock is its watermark, so over SLA as of the watermark W is (published later
than their SLA) + (waiting, entered before W − SLA) + ``Tally.breaches_withdrawn``:
entries counted when their deadline passed that a late-arriving, earlier publish
then showed in time. That sum never decreases as events arrive, which the live
counter needs, and without the withdrawn ones it is the replay's figure as of W.

An entry is stored as one int, its *key* (entry time, arrival sequence number,
group index), in dicts and tuples that hold nothing but ints and strings. The
cyclic garbage collector does not track such containers, so a million pending
entries add nothing to the full collections that otherwise dominated the cost
of feeding the engine; ``TrackedEntry`` objects are views made on request.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, MutableSequence
from heapq import heappush

from schemas.timestamps import US_PER_HOUR
from streams.expiry import hour_heap, hours_before
from streams.figures import BacklogFigures
from streams.freshness import FreshnessHistory
from streams.publish_times import note_publish_time
from streams.tally import Tally

BUCKET_US = US_PER_HOUR
# The per-entry divisions below divide by BUCKET_US in two steps of literals
# (``// 60_000_000 // 60``: floor division by a then b is floor division by a * b for any
# int): compiled (setup.py), Cython divides an int by a literal below 2**30 in C, with
# Python's floor rule, where dividing by the global (two 30-bit digits) goes through
# CPython's long division (~780 instructions); interpreted, two one-digit divisions are
# cheaper than that one too.
# tests/streams/test_compiled_equals_source.py holds the literals to BUCKET_US.
GroupKey = tuple[str, ...]

# Entry key layout: entered_us << 96 | seq << 32 | group index. Keys order by entry
# time first, so the smallest key of a bucket is its oldest entry, and "entered ≤ T"
# is "key < (T + 1) << 96". seq (the engine's arrival counter) makes keys unique;
# it stays below 2**64 and group indexes below 2**32.
ENTERED_SHIFT = 96
SEQ_SHIFT = 32
GROUP_MASK = (1 << SEQ_SHIFT) - 1
SEQ_MASK = (1 << (ENTERED_SHIFT - SEQ_SHIFT)) - 1


def arrival(key: int) -> int:
    """The arrival number (seq) of an entry key."""
    return key >> SEQ_SHIFT & SEQ_MASK


def entry_key(entered_us: int, seq: int, group_index: int) -> int:
    return entered_us << ENTERED_SHIFT | seq << SEQ_SHIFT | group_index


def entered_at(key: int) -> int:
    """The entry time (µs) of an entry key."""
    return key >> ENTERED_SHIFT


def keys_entered_before(entered_us: int) -> int:
    """The bound below which lie exactly the keys of entries entered before the instant
    (keys order by entry time first): ``keys_entered_before(T + 1)`` for "entered ≤ T"."""
    return entered_us << ENTERED_SHIFT


# Within SLA and overdue, the one rule (docs/kpis.md): a latency equal to the SLA is within
# it; an entry not published by T is overdue when it has waited longer than its SLA,
# T − entered > SLA. The hot loops of this module inline ``latency <= sla_us`` and
# ``entered_us < overdue_before(...)``; everything else calls these.


def within_sla(latency_us: int, sla_us: int) -> bool:
    return latency_us <= sla_us


def overdue_before(as_of_us: int, sla_us: int) -> int:
    """Entries entered before this instant and not published by T are overdue at T."""
    return as_of_us - sla_us


def overdue_from(entered_us: int, sla_us: int) -> int:
    """The first instant at which an entry entered then is overdue, if not published by it
    (its deadline has passed: the instant after entered + SLA)."""
    return entered_us + sla_us + 1


class TrackedEntry:
    """A view of one entry on one dashboard; ``published_us`` is read from the ledger.

    Live: it follows later publishes, for callers that keep views while feeding
    more events (the replay lists every entry with its final publish time).
    """

    __slots__ = ("entered_us", "group", "key", "record_id")

    def __init__(self, record_id: str, entered_us: int, group: GroupLedger, key: int) -> None:
        self.record_id = record_id
        self.entered_us = entered_us
        self.group = group
        self.key = key

    @property
    def published_us(self) -> int | None:
        return self.group.published_of(self.key)


class GroupLedger:
    """Entries of one study, dashboard and breakdown group (site/country/vendor)."""

    __slots__ = (
        "index",
        "key",
        "latest_published",
        "max_published",
        "pending",
        "pending_heap",
        "published",
        "published_heap",
        "published_records",
        "sla_us",
        "tally",
    )

    def __init__(
        self, key: GroupKey, sla_us: int, bounds_us: tuple[int, ...], index: int = 0
    ) -> None:
        self.key = key
        self.index = index  # in DashboardLedger.group_list, and in the low bits of entry keys
        self.sla_us = sla_us
        # hour bucket -> {entry key: record id}
        self.pending: dict[int, dict[int, str]] = {}
        # hour bucket -> {entry key: published_us}
        self.published: dict[int, dict[int, int]] = {}
        # The pending buckets as a heap, for a pipeline stage's pruning (streams/stages.py;
        # the dashboards never forget pending entries): None until its first.
        self.pending_heap: list[int] | None = None
        # hour bucket -> record ids of its published entries, in the published dict's
        # order (entries are only ever added to it), to unindex them when pruned.
        self.published_records: dict[int, list[str]] = {}
        # Upper bound of published_us per bucket, so publishes that cannot lower
        # any latency skip the bucket without visiting its entries.
        self.max_published: dict[int, int] = {}
        # The published buckets as a heap, for pruning (streams/expiry.py): None until the
        # first pruning, so a replay, which never prunes, never keeps one.
        self.published_heap: list[int] | None = None
        # The same bound over all buckets: in-order publishes skip the scan entirely.
        self.latest_published = -1
        # Cumulative over everything that arrived (not "as of T"): the live histogram.
        self.tally = Tally(bounds_us)

    def _record_published(self, key: int, record_id: str, published_us: int) -> None:
        entered_us = key >> ENTERED_SHIFT
        bucket = entered_us // 60_000_000 // 60  # BUCKET_US
        entries = self.published.get(bucket)
        if entries is None:
            self.published[bucket] = {key: published_us}
            self.published_records[bucket] = [record_id]
            self.max_published[bucket] = published_us
            if self.published_heap is not None:
                heappush(self.published_heap, bucket)
        else:
            entries[key] = published_us
            self.published_records[bucket].append(record_id)
            if published_us > self.max_published[bucket]:
                self.max_published[bucket] = published_us
        if published_us > self.latest_published:
            self.latest_published = published_us
        latency = published_us - entered_us
        self.tally.add(latency, latency <= self.sla_us)

    def lower_published(self, key: int, published_us: int) -> None:
        entered_us = key >> ENTERED_SHIFT
        entries = self.published[entered_us // BUCKET_US]
        old = entries[key] - entered_us
        entries[key] = published_us
        latency = published_us - entered_us
        sla_us = self.sla_us
        self.tally.lower(old, latency, old <= sla_us, latency <= sla_us)
        if latency <= sla_us < old:
            # Its late publish had moved the watermark past its deadline: it was counted
            # over SLA then, and the count stays (a counter); this says it was in time.
            self.tally.breaches_withdrawn += 1

    def publish_keys(self, keys: list[int], published_us: int, due_before: int) -> None:
        """A record-level publish reached these entries (entered ≤ published_us).

        Publishes pending ones and lowers the published ones it beats. One loop with
        the tally's additions summed in it: this runs for every record published.
        ``due_before``: watermark − SLA; a pending entry entered before it was counted
        over SLA already (its deadline passed), so published in time it is withdrawn.
        """
        pending, published_buckets = self.pending, self.published
        records_by_bucket, max_published = self.published_records, self.max_published
        tally = self.tally
        bounds, counts, sla_us = tally.bounds_us, tally.bucket_counts, self.sla_us
        count = total = within = withdrawn = 0
        # Keys of one record publish come in runs of the same hour: the bucket's dicts
        # are looked up once per run (and its max_published bumped once).
        bucket = None
        entries: dict[int, str] | None = None
        published: dict[int, int] | None = None
        records: list[str] = []
        for key in keys:
            entered_us = key >> ENTERED_SHIFT
            hour = entered_us // 60_000_000 // 60  # BUCKET_US
            if hour != bucket:
                bucket = hour
                entries = pending.get(bucket)
                published = None
            record_id = None if entries is None else entries.pop(key, None)
            if record_id is None:  # published already
                if published_buckets[bucket][key] > published_us:
                    self.lower_published(key, published_us)
                continue
            if not entries:
                del pending[bucket]
            if published is None:
                published = published_buckets.get(bucket)
                if published is None:
                    published = published_buckets[bucket] = {}
                    records = records_by_bucket[bucket] = []
                    max_published[bucket] = published_us
                    if self.published_heap is not None:
                        heappush(self.published_heap, bucket)
                else:
                    records = records_by_bucket[bucket]
                    if published_us > max_published[bucket]:
                        max_published[bucket] = published_us
            published[key] = published_us
            records.append(record_id)
            latency = published_us - entered_us
            counts[bisect_left(bounds, latency)] += 1
            total += latency
            if latency <= sla_us:
                within += 1
                if entered_us < due_before:
                    withdrawn += 1
            count += 1
        if count:
            tally.count += count
            tally.sum_us += total
            tally.within_sla += within
            tally.breaches_withdrawn += withdrawn
            if published_us > self.latest_published:
                self.latest_published = published_us

    def published_of(self, key: int) -> int | None:
        """published_us of a retained entry (None while pending)."""
        bucket = (key >> ENTERED_SHIFT) // BUCKET_US
        published = self.published.get(bucket)
        if published is not None and key in published:
            return published[key]
        pending = self.pending.get(bucket)
        if pending is not None and key in pending:
            return None
        raise LookupError("entry no longer retained (pruned by the retention)")

    def cover_up_to(self, cutoff_us: int, published_us: int, due_before: int) -> None:
        """Apply a snapshot publish: every entry entered ≤ cutoff is visible at published_us.

        ``due_before`` as in ``publish_keys``."""
        last_bucket = cutoff_us // BUCKET_US
        limit = (cutoff_us + 1) << ENTERED_SHIFT  # keys of entries entered ≤ cutoff are below
        pending = self.pending
        buckets = [b for b in pending if b <= last_bucket]
        if buckets:
            # The tally's additions, summed here: this loop is the whole cost of a publish.
            tally = self.tally
            bounds, counts, sla_us = tally.bounds_us, tally.bucket_counts, self.sla_us
            count = total = within = withdrawn = 0
            for bucket in buckets:
                entries = pending[bucket]
                if bucket < last_bucket:
                    covered = entries  # the whole hour lies before the cutoff
                    del pending[bucket]
                else:
                    covered = {k: r for k, r in entries.items() if k < limit}
                    if not covered:
                        continue
                    for key in covered:
                        del entries[key]
                    if not entries:
                        del pending[bucket]
                published = self.published.get(bucket)
                if published is None:
                    self.published[bucket] = dict.fromkeys(covered, published_us)
                    self.published_records[bucket] = list(covered.values())
                    self.max_published[bucket] = published_us
                    if self.published_heap is not None:
                        heappush(self.published_heap, bucket)
                else:
                    published.update(dict.fromkeys(covered, published_us))
                    self.published_records[bucket].extend(covered.values())
                    if published_us > self.max_published[bucket]:
                        self.max_published[bucket] = published_us
                for key in covered:
                    entered_us = key >> ENTERED_SHIFT
                    latency = published_us - entered_us
                    counts[bisect_left(bounds, latency)] += 1
                    total += latency
                    if latency <= sla_us:
                        within += 1
                        if entered_us < due_before:
                            withdrawn += 1
                count += len(covered)
            tally.count += count
            tally.sum_us += total
            tally.within_sla += within
            tally.breaches_withdrawn += withdrawn
            if count and published_us > self.latest_published:
                self.latest_published = published_us
        if self.latest_published <= published_us:
            return  # no published entry has a later publish this one could lower
        lower = [
            key
            for bucket, entries in self.published.items()
            if bucket <= last_bucket and self.max_published[bucket] > published_us
            for key, when in entries.items()
            if key < limit and when > published_us
        ]
        for key in lower:
            self.lower_published(key, published_us)

    def iter_times(self) -> Iterator[tuple[int, int | None]]:
        """(entered_us, published_us or None) of every retained entry."""
        for entries in self.pending.values():
            for key in entries:
                yield key >> ENTERED_SHIFT, None
        for published in self.published.values():
            for key, when in published.items():
                yield key >> ENTERED_SHIFT, when

    def times(self) -> list[tuple[int, int | None]]:
        """``iter_times`` as a list: comprehensions, about twice as fast as the generator."""
        out: list[tuple[int, int | None]] = [
            (key >> ENTERED_SHIFT, None) for entries in self.pending.values() for key in entries
        ]
        out += [
            (key >> ENTERED_SHIFT, when)
            for published in self.published.values()
            for key, when in published.items()
        ]
        return out

    def latencies(self, as_of_us: int) -> list[int]:
        """Latencies of the retained entries published as of T (in no particular order)."""
        return [
            when - (key >> ENTERED_SHIFT)
            for bucket, published in self.published.items()
            if bucket * BUCKET_US <= as_of_us
            for key, when in published.items()
            if when <= as_of_us
        ]

    def iter_entries(self) -> Iterator[TrackedEntry]:
        for entries in self.pending.values():
            for key, record_id in entries.items():
                yield TrackedEntry(record_id, key >> ENTERED_SHIFT, self, key)
        for bucket, published in self.published.items():
            for key, record_id in zip(published, self.published_records[bucket], strict=True):
                yield TrackedEntry(record_id, key >> ENTERED_SHIFT, self, key)

    def backlog(self, as_of_us: int) -> BacklogFigures:
        """Pending, oldest age and overdue as of T, touching whole buckets where it can."""
        due_before = overdue_before(as_of_us, self.sla_us)
        pending = overdue = 0
        oldest: int | None = None
        for bucket, entries in self.pending.items():
            start = bucket * BUCKET_US
            if start > as_of_us:
                continue
            end = start + BUCKET_US - 1
            if end <= as_of_us and end < due_before:
                pending += len(entries)
                overdue += len(entries)
                if oldest is None or start < oldest:
                    first = min(entries) >> ENTERED_SHIFT
                    if oldest is None or first < oldest:
                        oldest = first
                continue
            for key in entries:
                entered_us = key >> ENTERED_SHIFT
                if entered_us <= as_of_us:
                    pending += 1
                    overdue += entered_us < due_before
                    if oldest is None or entered_us < oldest:
                        oldest = entered_us
        # Entries whose earliest publish lies after T were still pending at T.
        for bucket, published in self.published.items():
            if bucket * BUCKET_US > as_of_us or self.max_published[bucket] <= as_of_us:
                continue
            for key, when in published.items():
                entered_us = key >> ENTERED_SHIFT
                if entered_us <= as_of_us < when:
                    pending += 1
                    overdue += entered_us < due_before
                    if oldest is None or entered_us < oldest:
                        oldest = entered_us
        return BacklogFigures(
            pending=pending,
            oldest_age_us=None if oldest is None else as_of_us - oldest,
            overdue=overdue,
        )

    def over_sla(self, clock_us: int) -> int:
        """Entries counted over SLA by the clock (the watermark): never decreases as events
        arrive and the clock moves on (see "Breaches" above)."""
        tally = self.tally
        waiting = self._waiting_past(overdue_before(clock_us, self.sla_us))
        return tally.count - tally.within_sla + waiting + tally.breaches_withdrawn

    def _waiting_past(self, entered_before: int) -> int:
        """Pending entries entered before the instant: ``backlog(watermark).overdue``, as no
        entry is entered and no publish is made after the watermark; whole hours counted
        by their length (this runs per group at every scrape)."""
        count = 0
        limit = keys_entered_before(entered_before)
        for bucket, entries in self.pending.items():
            start = bucket * BUCKET_US
            if start + BUCKET_US <= entered_before:
                count += len(entries)
            elif start < entered_before:
                count += sum(1 for key in entries if key < limit)
        return count

    def prune_published_before(self, horizon_us: int) -> list[tuple[dict[int, int], list[str]]]:
        """Forget published entries of buckets wholly before the horizon; return them.

        Only buckets whose entries were all published by the horizon: a publish that
        could still lower such a latency, or an instant at which such an entry was
        still pending, lies before the horizon too.
        """
        gone: list[tuple[dict[int, int], list[str]]] = []
        published, published_by = self.published, self.max_published
        heap = self.published_heap
        if heap is None:
            heap = self.published_heap = hour_heap(published)
        late: list[int] = []  # old enough, but published after the horizon: kept for now
        # (b + 1) * BUCKET_US <= horizon_us, for whole hours b: b < horizon_us // BUCKET_US
        for bucket in hours_before(heap, horizon_us // 60_000_000 // 60, published):
            if published_by[bucket] <= horizon_us:
                gone.append((published.pop(bucket), self.published_records.pop(bucket)))
                del published_by[bucket]
            else:
                late.append(bucket)
        for bucket in late:
            heappush(heap, bucket)
        return gone


class DashboardLedger:
    """Coverage of one study's entries on one dashboard."""

    __slots__ = (
        "bounds_us",
        "by_record",
        "first_entered_us",
        "freshness",
        "group_list",
        "groups",
        "last_published_us",
        "publish_history_cap",
        "publish_hour_heap",
        "publish_hours",
        "publish_times",
        "record_publishes",
        "sla_us",
        "snapshot_cutoffs",
        "snapshot_times",
    )

    def __init__(
        self, sla_us: int, bounds_us: tuple[int, ...], publish_history_cap: int | None = None
    ) -> None:
        self.sla_us = sla_us
        self.bounds_us = bounds_us
        self.groups: dict[GroupKey, GroupLedger] = {}
        self.group_list: list[GroupLedger] = []  # by GroupLedger.index
        # record_id -> the keys of its entries, ascending; a lone key is stored bare to save
        # a tuple, and () marks a record with publish times but no retained entry. So every
        # record of record_publishes is here too, and an entry of a record missing
        # here skips the record_publishes look-up (a cache miss in a big dict).
        self.by_record: dict[str, int | tuple[int, ...]] = {}
        # Snapshot publishes as a Pareto frontier: ascending cutoffs with ascending
        # times. A publish with a later cutoff *and* an earlier time dominates.
        self.snapshot_cutoffs: list[int] = []
        self.snapshot_times: list[int] = []
        # record_id -> its publish times, ascending; a lone time is stored bare.
        self.record_publishes: dict[str, int | list[int]] = {}
        # For pruning record_publishes without visiting every record (streams/expiry.py):
        # hour of a publish time -> the records the publish named (a record may be named
        # again, or after its time is forgotten: visiting it then changes nothing), and
        # those hours as a heap. None until the first pruning: a replay never keeps them.
        self.publish_hours: dict[int, list[str]] | None = None
        self.publish_hour_heap: list[int] | None = None
        # For "publishing stalled": the newest publish and the oldest entry ever seen.
        self.last_published_us: int | None = None
        self.first_entered_us: int | None = None
        # Distinct publish instants, ascending, for the schedule's questions as of T and the
        # learned cadence (streams/schedules.py): the newest ``publish_history_cap`` of them
        # (None: all, as the audit replay keeps everything).
        self.publish_times: list[int] = []
        self.publish_history_cap = publish_history_cap
        # Every publish time and the newest data each showed (streams/freshness.py).
        self.freshness = FreshnessHistory()

    def note_publish(self, published_us: int) -> None:
        if self.last_published_us is None or published_us > self.last_published_us:
            self.last_published_us = published_us
            times = self.publish_times
            times.append(published_us)  # newer than all: the common case, O(1)
            cap = self.publish_history_cap
            if cap is not None and len(times) > cap:
                del times[0]
        else:
            note_publish_time(self.publish_times, published_us, self.publish_history_cap)
        self.freshness.published.add(published_us)

    def group(self, key: GroupKey) -> GroupLedger:
        ledger = self.groups.get(key)
        if ledger is None:
            index = len(self.group_list)
            if index > GROUP_MASK:
                raise ValueError("too many breakdown groups for one study and dashboard")
            ledger = self.groups[key] = GroupLedger(key, self.sla_us, self.bounds_us, index)
            self.group_list.append(ledger)
        return ledger

    def earliest_cover(self, record_id: str, entered_us: int) -> int | None:
        """Earliest published_at among publishes seen so far that cover this entry."""
        best: int | None = None
        cutoffs = self.snapshot_cutoffs
        if cutoffs and cutoffs[-1] >= entered_us:
            best = self.snapshot_times[bisect_left(cutoffs, entered_us)]
        times = self.record_publishes.get(record_id)
        if times is not None:
            if times.__class__ is int:
                candidate = times if times >= entered_us else None  # type: ignore[operator]
            elif times[-1] >= entered_us:  # type: ignore[index]
                candidate = times[bisect_left(times, entered_us)]  # type: ignore[arg-type,index]
            else:
                candidate = None
            if candidate is not None and (best is None or candidate < best):
                best = candidate  # type: ignore[assignment]
        return best

    def add_entry(self, record_id: str, entered_us: int, seq: int, group_key: GroupKey) -> int:
        """Track an entry (seq: its arrival number, unique per engine); returns its key."""
        group = self.groups.get(group_key) or self.group(group_key)
        first = self.first_entered_us
        if first is None or entered_us < first:
            self.first_entered_us = entered_us
        key = entered_us << ENTERED_SHIFT | seq << SEQ_SHIFT | group.index
        by_record = self.by_record
        known = by_record.setdefault(record_id, key)
        # earliest_cover(), inlined: this runs for every entry on every dashboard.
        best = None
        cutoffs = self.snapshot_cutoffs
        if cutoffs and cutoffs[-1] >= entered_us:
            best = self.snapshot_times[bisect_left(cutoffs, entered_us)]
        if known is not key:  # the record has entries already, or publish times
            # A record's keys ascend (entry time first): apply_records finds the ones a
            # publish reaches by bisection. Entries mostly arrive in entry-time order.
            if known.__class__ is int:
                by_record[record_id] = (known, key) if known < key else (key, known)  # type: ignore[assignment,operator]
            elif not known:
                by_record[record_id] = key
            elif known[-1] < key:  # type: ignore[index]
                by_record[record_id] = (*known, key)  # type: ignore[misc]
            else:
                i = bisect_left(known, key)  # type: ignore[arg-type]
                by_record[record_id] = (*known[:i], key, *known[i:])  # type: ignore[index]
            # A record new to by_record has no publish times (apply_records indexes it).
            times = self.record_publishes.get(record_id)
            if times is not None:
                if times.__class__ is int:
                    if times >= entered_us and (best is None or times < best):  # type: ignore[operator]
                        best = times  # type: ignore[assignment]
                elif times[-1] >= entered_us:  # type: ignore[index]
                    candidate = times[bisect_left(times, entered_us)]  # type: ignore[arg-type,index]
                    if best is None or candidate < best:
                        best = candidate
        if best is None:
            bucket = entered_us // 60_000_000 // 60  # BUCKET_US
            pending = group.pending.get(bucket)
            if pending is None:
                group.pending[bucket] = {key: record_id}
                if group.pending_heap is not None:
                    heappush(group.pending_heap, bucket)
            else:
                pending[key] = record_id
        else:
            group._record_published(key, record_id, best)
            # Shown from its earliest cover on (a record publish that came before it).
            shown = self.freshness.shown
            if shown.get(best, entered_us - 1) < entered_us:
                shown[best] = entered_us
        return key

    def view(self, record_id: str, entered_us: int, seq: int, group_key: GroupKey) -> TrackedEntry:
        group = self.groups[group_key]
        return TrackedEntry(record_id, entered_us, group, entry_key(entered_us, seq, group.index))

    def apply_snapshot(self, cutoff_us: int, published_us: int, clock_us: int) -> None:
        """``clock_us``: the engine's watermark, which judges whose deadline has passed."""
        self.freshness.note_shown(published_us, cutoff_us)
        cutoffs, times = self.snapshot_cutoffs, self.snapshot_times
        i = bisect_left(cutoffs, cutoff_us)
        if i < len(cutoffs) and times[i] <= published_us:
            return  # dominated: an earlier publish already covers everything this one does
        if i < len(cutoffs) and cutoffs[i] == cutoff_us:
            del cutoffs[i], times[i]
        first_dominated = i
        while first_dominated > 0 and times[first_dominated - 1] >= published_us:
            first_dominated -= 1
        cutoffs[first_dominated:i] = [cutoff_us]
        times[first_dominated:i] = [published_us]
        due_before = overdue_before(clock_us, self.sla_us)
        for group in self.groups.values():
            group.cover_up_to(cutoff_us, published_us, due_before)

    def apply_records(self, record_ids: list[str], published_us: int, clock_us: int) -> None:
        """``clock_us`` as in ``apply_snapshot``."""
        record_publishes, by_record = self.record_publishes, self.by_record
        limit = (published_us + 1) << ENTERED_SHIFT  # keys of entries entered ≤ published_us
        index = self.publish_hours
        if index is not None:  # pruned before: file the records for the next pruning
            hour = published_us // 60_000_000 // 60  # BUCKET_US
            filed = index.get(hour)
            if filed is None:
                index[hour] = list(record_ids)
                heappush(self.publish_hour_heap, hour)  # type: ignore[arg-type]
            else:
                filed.extend(record_ids)
        keys: list[int] = []
        # A record named twice is skipped the second time: its time is already known.
        for record_id in record_ids:
            known = by_record.get(record_id)
            if known is None:  # neither entries nor publish times yet
                by_record[record_id] = ()
                record_publishes[record_id] = published_us
                continue
            times = record_publishes.get(record_id)
            # Keys at or above `floor` are the ones this publish may change. An earlier
            # publish of the record at M covered every entry of it entered ≤ M, so each
            # of those has published_us ≤ M (entries arriving later take it in
            # add_entry): when this publish is not earlier than M, it can neither
            # publish nor lower them. A record revised hundreds of times and published
            # after each revision is then visited for its new entries only.
            floor = 0
            if times is None:
                record_publishes[record_id] = published_us
            elif times.__class__ is int:
                if times == published_us:
                    continue
                if times < published_us:  # type: ignore[operator]
                    floor = (times + 1) << ENTERED_SHIFT  # type: ignore[operator]
                    record_publishes[record_id] = [times, published_us]  # type: ignore[list-item]
                else:
                    record_publishes[record_id] = [published_us, times]  # type: ignore[list-item]
            else:
                latest = times[-1]  # type: ignore[index]
                if latest < published_us:
                    floor = (latest + 1) << ENTERED_SHIFT
                    times.append(published_us)  # type: ignore[union-attr]
                else:
                    j = bisect_left(times, published_us)  # type: ignore[arg-type]
                    if times[j] == published_us:  # type: ignore[index]
                        continue
                    times.insert(j, published_us)  # type: ignore[union-attr]
            if known.__class__ is int:
                if floor <= known < limit:  # type: ignore[operator]
                    keys.append(known)  # type: ignore[arg-type]
                continue
            first = bisect_left(known, floor) if floor else 0  # type: ignore[arg-type]
            stop = bisect_left(known, limit, first)  # type: ignore[arg-type]
            if stop - first == 1:
                keys.append(known[first])  # type: ignore[index]
            elif stop > first:
                # In arrival order, as the entries were fed: the order they are filed in.
                keys += sorted(known[first:stop], key=arrival)  # type: ignore[index]
        if not keys:
            return
        # The newest entry this publish shows (keys order by entry time first); those the
        # floor left out were shown no later by an earlier publish of their record.
        self.freshness.note_shown(published_us, max(keys) >> ENTERED_SHIFT)
        groups = self.group_list
        due_before = overdue_before(clock_us, self.sla_us)
        if len(groups) == 1:
            groups[0].publish_keys(keys, published_us, due_before)
            return
        by_group: dict[int, list[int]] = {}
        for key in keys:
            by_group.setdefault(key & GROUP_MASK, []).append(key)
        for index, group_keys in by_group.items():
            groups[index].publish_keys(group_keys, published_us, due_before)

    def prune(self, horizon_us: int) -> None:
        """Forget what can no longer change an answer for data newer than the horizon."""
        for group in self.groups.values():
            for keys, record_ids in group.prune_published_before(horizon_us):
                for record_id in record_ids:
                    self._unindex(record_id, keys)
        self.prune_publishes(horizon_us)

    def prune_publishes(self, horizon_us: int) -> None:
        """Forget publishes older than the horizon: they can only cover entries older than it
        (the pipeline stages' ledgers prune their entries by their own rule, then this)."""
        keep = bisect_left(self.snapshot_cutoffs, horizon_us)
        del self.snapshot_cutoffs[:keep], self.snapshot_times[:keep]
        record_publishes = self.record_publishes
        index, heap = self.publish_hours, self.publish_hour_heap
        if index is None or heap is None:
            index = self.publish_hours = {}
            for record_id, times in record_publishes.items():
                for time_us in (times,) if times.__class__ is int else times:  # type: ignore[union-attr]
                    index.setdefault(time_us // 60_000_000 // 60, []).append(record_id)  # type: ignore[operator]
            heap = self.publish_hour_heap = hour_heap(index)
        # Only records with a time before the horizon change: those filed under an hour
        # wholly before it (unfiled now) and under the horizon's own hour (which stays
        # filed: its later times stay). Visiting any other record would change nothing.
        limit_hour = horizon_us // 60_000_000 // 60
        visit = [index.pop(hour) for hour in hours_before(heap, limit_hour, index)]
        if limit_hour in index:
            visit.append(index[limit_hour])
        for record_ids in visit:
            for record_id in record_ids:
                self._forget_publishes_before(record_id, horizon_us)

    def _forget_publishes_before(self, record_id: str, horizon_us: int) -> None:
        """Forget a record's publish times before the horizon, and the record once it has none."""
        record_publishes = self.record_publishes
        times = record_publishes.get(record_id)
        if times is None:
            return  # forgotten already (named twice, or by an earlier pruning)
        if times.__class__ is int:
            if times >= horizon_us:  # type: ignore[operator]
                return
        else:
            keep = bisect_left(times, horizon_us)  # type: ignore[arg-type]
            if keep < len(times) - 1:  # type: ignore[arg-type]
                del times[:keep]  # type: ignore[union-attr]
                return
            if keep == len(times) - 1:  # type: ignore[arg-type]
                record_publishes[record_id] = times[-1]  # type: ignore[index]
                return
        del record_publishes[record_id]
        if self.by_record[record_id] == ():
            del self.by_record[record_id]

    def _unindex(self, record_id: str, gone: dict[int, int]) -> None:
        """Drop the keys of forgotten entries from the record's index (once per record)."""
        known = self.by_record.get(record_id)
        if known is None or known == ():
            return  # unindexed already, by an earlier entry of the record in this bucket
        if known.__class__ is int:
            kept: tuple[int, ...] = () if known in gone else (known,)  # type: ignore[assignment]
        else:
            kept = tuple(key for key in known if key not in gone)  # type: ignore[union-attr]
        if not kept:
            if record_id in self.record_publishes:
                self.by_record[record_id] = ()  # still has publish times
            else:
                del self.by_record[record_id]
        elif len(kept) == 1:
            self.by_record[record_id] = kept[0]
        else:
            self.by_record[record_id] = kept


def publish_times_by_arrival(
    ledger: DashboardLedger, times: MutableSequence[int], pending: int
) -> None:
    """Each retained entry's ``published_us`` on this dashboard, written into ``times`` at its
    arrival number (seq); ``pending`` for an entry not published. Slots of other entries
    are left as they were.

    What ``GroupLedger.published_of`` answers one key at a time, for every entry at once:
    one walk of the buckets instead of a key made and two dict look-ups per entry (the
    replay's entries.csv, which finds every entry event by its arrival number).
    """
    for group in ledger.group_list:
        for published in group.published.values():
            for key, published_us in published.items():
                times[key >> SEQ_SHIFT & SEQ_MASK] = published_us
        for waiting in group.pending.values():
            for key in waiting:
                times[key >> SEQ_SHIFT & SEQ_MASK] = pending
