"""Memory of event ids already seen, so the first occurrence wins and later ones are ignored.

Bounded by retention: ids are filed by the hour of their event's own time and
forgotten once that hour falls behind the horizon. A duplicate of an event
older than the retention is therefore counted again (docs/design.md).

Bounded by count too (``EngineConfig.max_event_ids``): a producer that writes many
distinct ids inside the retention would otherwise grow this without limit. Past
the cap the ids of the oldest event hours go first, each hour's in arrival order
(``evict``); a repeat of an evicted id counts again, which docs/design.md prices.
"""

from __future__ import annotations

from heapq import heappush

from schemas.timestamps import US_PER_HOUR
from streams.expiry import hour_heap, hours_before


class EventIdMemory:
    __slots__ = ("by_hour", "hour", "hour_heap", "hour_ids", "seen")

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.by_hour: dict[int, list[str]] = {}
        # The hour filed last and its list: events mostly arrive hour after hour, so
        # this spares a look-up, and every id of the hour shares one int object.
        self.hour: int | None = None
        self.hour_ids: list[str] = []
        # by_hour's hours as a heap, for pruning (streams/expiry.py): None until the first.
        self.hour_heap: list[int] | None = None

    def __len__(self) -> int:
        return len(self.seen)

    def first_time(self, event_id: str, time_us: int) -> bool:
        """Remember the id; True when it had not been seen before."""
        if event_id in self.seen:
            return False
        self.remember(event_id, time_us)
        return True

    def remember(self, event_id: str, time_us: int) -> None:
        """File an id not seen before under the hour of its event time."""
        hour = time_us // 60_000_000 // 60  # US_PER_HOUR written out (streams/latency.py)
        if hour == self.hour:
            self.seen[event_id] = self.hour  # type: ignore[assignment]
            self.hour_ids.append(event_id)
            return
        bucket = self.by_hour.get(hour)
        if bucket is None:
            bucket = self.by_hour[hour] = []
            if self.hour_heap is not None:
                heappush(self.hour_heap, hour)
        bucket.append(event_id)
        self.seen[event_id] = hour
        self.hour, self.hour_ids = hour, bucket

    def prune(self, horizon_us: int) -> None:
        """Forget the ids of the hours that end at or before the horizon."""
        heap = self.hour_heap
        if heap is None:
            heap = self.hour_heap = hour_heap(self.by_hour)
        # (hour + 1) * US_PER_HOUR <= horizon_us, for whole hours: hour < horizon_us // US_PER_HOUR
        for hour in hours_before(heap, horizon_us // US_PER_HOUR, self.by_hour):
            for event_id in self.by_hour.pop(hour):
                del self.seen[event_id]
            if hour == self.hour:
                self.hour, self.hour_ids = None, []

    def evict(self, keep: int) -> int:
        """Forget the ids of the oldest event hours until at most ``keep`` remain; how many.

        Only filed ids (the engine files them when it has a retention) can be evicted.
        """
        excess = len(self.seen) - keep
        evicted = 0
        seen = self.seen
        for hour in sorted(self.by_hour):
            if evicted >= excess:
                break
            bucket = self.by_hour[hour]
            take = min(len(bucket), excess - evicted)
            for event_id in bucket[:take]:
                del seen[event_id]
            if take == len(bucket):
                del self.by_hour[hour]
                if hour == self.hour:
                    self.hour, self.hour_ids = None, []
            else:
                del bucket[:take]  # the same list object: hour_ids may be it
            evicted += take
        return evicted
