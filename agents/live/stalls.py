"""Which assigned input partitions are stuck: messages handed to the router, none committed.

A partition is *waiting* when the router has been handed a message at or after the
partition's committed offset (so there is input this worker took and has not
finished). It is *stuck* when it has been waiting for ``stall_after_s`` without its
committed offset moving. A healthy worker commits every second while input flows,
so a stuck partition is one whose committed offset cannot pass a message: a batch
that raised, sends refused for good (docs/runbooks/EdcInputPartitionStuck.md).

Judged from what the worker already knows, with no request: the offsets Faust
committed for it (``Monitor.tp_committed_offsets``; unknown until its first commit
since the partition was assigned) and the last offset handed to the router. An idle
partition (everything read is committed) is never stuck, however old its last commit;
nor is one the worker never read from (a quiet topic, input deleted by retention).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

Partition = tuple[str, int]  # (topic, partition number)


@dataclass(slots=True)
class StallWatch:
    stall_after_s: float
    clock: Callable[[], float] = time.monotonic
    # Per waiting partition: the committed offset it waits at, and since when.
    _waiting: dict[Partition, tuple[int | None, float]] = field(default_factory=dict)
    stuck: list[Partition] = field(default_factory=list)  # the last verdict, sorted

    def observe(
        self,
        assigned: Collection[Partition],
        committed: Mapping[Partition, int],
        last_read: Mapping[Partition, int],
    ) -> list[Partition]:
        """Update from the current offsets; returns (and keeps) the stuck partitions, sorted.

        ``committed``: the next offset to read, as committed (absent: unknown);
        ``last_read``: the last offset handed to the router (absent: none yet).
        """
        now = self.clock()
        waiting: dict[Partition, tuple[int | None, float]] = {}
        for partition in assigned:
            read = last_read.get(partition)
            position = committed.get(partition)
            if read is None or (position is not None and read < position):
                continue  # nothing read, or all of it committed
            earlier = self._waiting.get(partition)
            since = earlier[1] if earlier is not None and earlier[0] == position else now
            waiting[partition] = (position, since)
        self._waiting = waiting
        self.stuck = sorted(
            p for p, (_, since) in waiting.items() if now - since >= self.stall_after_s
        )
        return self.stuck

    def stuck_by_topic(self, topics: Collection[str]) -> dict[str, int]:
        counts = dict.fromkeys(topics, 0)
        for topic, _partition in self.stuck:
            if topic in counts:
                counts[topic] += 1
        return counts
