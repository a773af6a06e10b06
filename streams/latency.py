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
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from schemas.timestamps import US_PER_HOUR
from streams.figures import BacklogFigures
from streams.tally import Tally

BUCKET_US = US_PER_HOUR
GroupKey = tuple[str, ...]


class TrackedEntry:
    """One entry event on one dashboard: ~70 bytes plus its record id."""

    __slots__ = ("entered_us", "group", "published_us", "record_id")

    def __init__(self, record_id: str, entered_us: int, group: GroupLedger) -> None:
        self.record_id = record_id
        self.entered_us = entered_us
        self.group = group
        self.published_us: int | None = None


class GroupLedger:
    """Entries of one study, dashboard and breakdown group (site/country/vendor)."""

    __slots__ = (
        "key",
        "latest_published",
        "max_published",
        "pending",
        "published",
        "sla_us",
        "tally",
    )

    def __init__(self, key: GroupKey, sla_us: int, bounds_us: tuple[int, ...]) -> None:
        self.key = key
        self.sla_us = sla_us
        self.pending: dict[int, dict[TrackedEntry, None]] = {}
        self.published: dict[int, dict[TrackedEntry, None]] = {}
        # Upper bound of published_us per bucket, so publishes that cannot lower
        # any latency skip the bucket without visiting its entries.
        self.max_published: dict[int, int] = {}
        # The same bound over all buckets: in-order publishes skip the scan entirely.
        self.latest_published = -1
        # Cumulative over everything that arrived (not "as of T"): the live histogram.
        self.tally = Tally(bounds_us)

    def _record_published(self, entry: TrackedEntry, published_us: int) -> None:
        bucket = entry.entered_us // BUCKET_US
        entry.published_us = published_us
        self.published.setdefault(bucket, {})[entry] = None
        if published_us > self.max_published.get(bucket, -1):
            self.max_published[bucket] = published_us
        if published_us > self.latest_published:
            self.latest_published = published_us
        latency = published_us - entry.entered_us
        self.tally.add(latency, latency <= self.sla_us)

    def publish_pending(self, entry: TrackedEntry, published_us: int) -> None:
        bucket = entry.entered_us // BUCKET_US
        entries = self.pending[bucket]
        del entries[entry]
        if not entries:
            del self.pending[bucket]
        self._record_published(entry, published_us)

    def lower_published(self, entry: TrackedEntry, published_us: int) -> None:
        old = entry.published_us
        assert old is not None
        self.tally.remove(old - entry.entered_us, old - entry.entered_us <= self.sla_us)
        entry.published_us = published_us
        latency = published_us - entry.entered_us
        self.tally.add(latency, latency <= self.sla_us)

    def cover_up_to(self, cutoff_us: int, published_us: int) -> None:
        """Apply a snapshot publish: every entry entered ≤ cutoff is visible at published_us."""
        last_bucket = cutoff_us // BUCKET_US
        for bucket in [b for b in self.pending if b <= last_bucket]:
            entries = self.pending[bucket]
            covered = [e for e in entries if e.entered_us <= cutoff_us]
            for entry in covered:
                del entries[entry]
                self._record_published(entry, published_us)
            if not entries:
                del self.pending[bucket]
        if self.latest_published <= published_us:
            return  # no published entry has a later publish this one could lower
        for bucket, entries in self.published.items():
            if bucket <= last_bucket and self.max_published[bucket] > published_us:
                for entry in entries:
                    if entry.entered_us <= cutoff_us and entry.published_us > published_us:  # type: ignore[operator]
                        self.lower_published(entry, published_us)

    def iter_entries(self) -> Iterator[TrackedEntry]:
        for entries in self.pending.values():
            yield from entries
        for entries in self.published.values():
            yield from entries

    def backlog(self, as_of_us: int) -> BacklogFigures:
        """Pending, oldest age and overdue as of T, touching whole buckets where it can."""
        overdue_before = as_of_us - self.sla_us  # overdue: age > SLA, i.e. entered < T − SLA
        pending = overdue = 0
        oldest: int | None = None
        for bucket, entries in self.pending.items():
            start = bucket * BUCKET_US
            if start > as_of_us:
                continue
            end = start + BUCKET_US - 1
            if end <= as_of_us and end < overdue_before:
                pending += len(entries)
                overdue += len(entries)
                if oldest is None or start < oldest:
                    oldest = min(e.entered_us for e in entries)
                continue
            for entry in entries:
                if entry.entered_us <= as_of_us:
                    pending += 1
                    overdue += entry.entered_us < overdue_before
                    if oldest is None or entry.entered_us < oldest:
                        oldest = entry.entered_us
        # Entries whose earliest publish lies after T were still pending at T.
        for bucket, entries in self.published.items():
            if bucket * BUCKET_US > as_of_us or self.max_published[bucket] <= as_of_us:
                continue
            for entry in entries:
                if entry.entered_us <= as_of_us < entry.published_us:  # type: ignore[operator]
                    pending += 1
                    overdue += entry.entered_us < overdue_before
                    if oldest is None or entry.entered_us < oldest:
                        oldest = entry.entered_us
        return BacklogFigures(
            pending=pending,
            oldest_age_us=None if oldest is None else as_of_us - oldest,
            overdue=overdue,
        )

    def prune_published_before(self, horizon_us: int) -> list[TrackedEntry]:
        """Forget published entries of buckets wholly before the horizon; return them.

        Only buckets whose entries were all published by the horizon: a publish that
        could still lower such a latency, or an instant at which such an entry was
        still pending, lies before the horizon too.
        """
        gone: list[TrackedEntry] = []
        published_by = self.max_published
        for bucket in [
            b
            for b in self.published
            if (b + 1) * BUCKET_US <= horizon_us and published_by[b] <= horizon_us
        ]:
            gone.extend(self.published.pop(bucket))
            del self.max_published[bucket]
        return gone


class DashboardLedger:
    """Coverage of one study's entries on one dashboard."""

    __slots__ = (
        "bounds_us",
        "by_record",
        "first_entered_us",
        "groups",
        "last_published_us",
        "record_publishes",
        "sla_us",
        "snapshot_cutoffs",
        "snapshot_times",
    )

    def __init__(self, sla_us: int, bounds_us: tuple[int, ...]) -> None:
        self.sla_us = sla_us
        self.bounds_us = bounds_us
        self.groups: dict[GroupKey, GroupLedger] = {}
        # record_id -> its tracked entries; a lone entry is stored bare to save a list.
        self.by_record: dict[str, TrackedEntry | list[TrackedEntry]] = {}
        # Snapshot publishes as a Pareto frontier: ascending cutoffs with ascending
        # times. A publish with a later cutoff *and* an earlier time dominates.
        self.snapshot_cutoffs: list[int] = []
        self.snapshot_times: list[int] = []
        self.record_publishes: dict[str, list[int]] = {}
        # For "publishing stalled": the newest publish and the oldest entry ever seen.
        self.last_published_us: int | None = None
        self.first_entered_us: int | None = None

    def note_publish(self, published_us: int) -> None:
        if self.last_published_us is None or published_us > self.last_published_us:
            self.last_published_us = published_us

    def group(self, key: GroupKey) -> GroupLedger:
        ledger = self.groups.get(key)
        if ledger is None:
            ledger = self.groups[key] = GroupLedger(key, self.sla_us, self.bounds_us)
        return ledger

    def earliest_cover(self, record_id: str, entered_us: int) -> int | None:
        """Earliest published_at among publishes seen so far that cover this entry."""
        best: int | None = None
        cutoffs = self.snapshot_cutoffs
        if cutoffs and cutoffs[-1] >= entered_us:
            best = self.snapshot_times[bisect_left(cutoffs, entered_us)]
        times = self.record_publishes.get(record_id)
        if times and times[-1] >= entered_us:
            candidate = times[bisect_left(times, entered_us)]
            if best is None or candidate < best:
                best = candidate
        return best

    def add_entry(self, record_id: str, entered_us: int, group_key: GroupKey) -> TrackedEntry:
        group = self.groups.get(group_key) or self.group(group_key)
        if self.first_entered_us is None or entered_us < self.first_entered_us:
            self.first_entered_us = entered_us
        entry = TrackedEntry(record_id, entered_us, group)
        by_record = self.by_record
        known = by_record.get(record_id)
        if known is None:
            by_record[record_id] = entry
        elif known.__class__ is list:
            known.append(entry)  # type: ignore[union-attr]
        else:
            by_record[record_id] = [known, entry]  # type: ignore[list-item]
        published = self.earliest_cover(record_id, entered_us)
        if published is None:
            bucket = entered_us // BUCKET_US
            pending = group.pending.get(bucket)
            if pending is None:
                group.pending[bucket] = {entry: None}
            else:
                pending[entry] = None
        else:
            group._record_published(entry, published)
        return entry

    def apply_snapshot(self, cutoff_us: int, published_us: int) -> None:
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
        for group in self.groups.values():
            group.cover_up_to(cutoff_us, published_us)

    def apply_records(self, record_ids: list[str], published_us: int) -> None:
        for record_id in dict.fromkeys(record_ids):
            times = self.record_publishes.get(record_id)
            if times is None:
                self.record_publishes[record_id] = [published_us]
            else:
                j = bisect_left(times, published_us)
                if j < len(times) and times[j] == published_us:
                    continue
                insort(times, published_us)
            known = self.by_record.get(record_id)
            if known is None:
                continue
            for entry in known if isinstance(known, list) else (known,):
                if entry.entered_us > published_us:
                    continue
                if entry.published_us is None:
                    entry.group.publish_pending(entry, published_us)
                elif entry.published_us > published_us:
                    entry.group.lower_published(entry, published_us)

    def prune(self, horizon_us: int) -> None:
        """Forget what can no longer change an answer for data newer than the horizon."""
        for group in self.groups.values():
            for entry in group.prune_published_before(horizon_us):
                self._unindex(entry)
        keep = bisect_left(self.snapshot_cutoffs, horizon_us)
        del self.snapshot_cutoffs[:keep], self.snapshot_times[:keep]
        for record_id in list(self.record_publishes):
            times = self.record_publishes[record_id]
            keep = bisect_left(times, horizon_us)
            if keep == len(times):
                del self.record_publishes[record_id]
            elif keep:
                del times[:keep]

    def _unindex(self, entry: TrackedEntry) -> None:
        known = self.by_record[entry.record_id]
        if isinstance(known, list):
            known.remove(entry)
            if len(known) == 1:
                self.by_record[entry.record_id] = known[0]
        else:
            del self.by_record[entry.record_id]
