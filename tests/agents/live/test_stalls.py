"""Stuck input partitions, step by step on a clock the test moves, and what /readyz says of them."""

from __future__ import annotations

from agents.live.readiness import Readiness
from agents.live.stalls import StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


A, B, Q = ("edc.entries", 0), ("edc.entries", 3), ("edc.queries", 1)


def test_a_partition_is_stuck_once_its_committed_offset_stands_still_for_stall_after():
    clock = Clock()
    watch = StallWatch(120.0, clock=clock)
    # A: read up to 41, committed at 40 (the message at 40 never acked). B: all committed.
    committed, read = {A: 40, B: 8}, {A: 41, B: 7}
    assert watch.observe([A, B], committed, read) == []
    clock.now += 119.999
    read[A] = 90  # later messages keep coming in; the committed offset cannot pass 40
    assert watch.observe([A, B], committed, read) == []
    clock.now += 0.001  # exactly stall_after: stuck
    assert watch.observe([A, B], committed, read) == [A]
    assert watch.stuck_by_topic(["edc.entries", "edc.queries"]) == {
        "edc.entries": 1,
        "edc.queries": 0,
    }
    committed[A] = 41  # it moved: the wait starts again
    assert watch.observe([A, B], committed, read) == []
    clock.now += 120
    assert watch.observe([A, B], committed, read) == [A]
    assert watch.observe([B], committed, read) == []  # revoked: not this worker's any more


def test_idle_or_never_read_partitions_are_never_stuck_however_old_their_commit():
    clock = Clock()
    watch = StallWatch(60.0, clock=clock)
    committed, read = {A: 500}, {A: 499}  # everything read is committed
    for _ in range(5):
        clock.now += 3600
        assert watch.observe([A, Q], committed, read) == []  # Q: never read (quiet topic)


def test_read_but_never_committed_since_assignment_counts_as_waiting():
    clock = Clock()
    watch = StallWatch(60.0, clock=clock)
    assert watch.observe([Q], {}, {Q: 0}) == []
    clock.now += 60
    assert watch.observe([Q], {}, {Q: 5}) == [Q]
    assert watch.observe([Q], {Q: 6}, {Q: 5}) == []


def test_readyz_names_each_stuck_partition_by_topic_and_number_only():
    readiness = Readiness(30.0, clock=Clock())
    readiness.broker_answered()
    assert readiness.ready([], [], 120.0) == (True, [])
    ready, reasons = readiness.ready([], [A, Q], 120.0)
    assert not ready
    assert reasons == ["input partitions stuck for 120s or more: edc.entries[0], edc.queries[1]"]
    assert readiness.healthy() == (True, [])  # a restart would meet the same message
