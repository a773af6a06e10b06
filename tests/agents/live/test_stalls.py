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


def test_the_worker_reads_faust_s_offsets_and_reports_a_stuck_partition_everywhere():
    from aiokafka import TopicPartition
    from faust.types import TP

    from agents.live.app import LiveApp
    from agents.metrics.collector import EngineCollector
    from agents.settings import load_settings

    live = LiveApp(load_settings(bootstrap_servers="127.0.0.1:1", partition_stall_after="60s"))
    clock = Clock()
    live.stalls.clock = clock
    monitor = live.app.monitor
    # What Faust's consumer records: committed at 40, the router handed up to 90.
    monitor.on_tp_commit({TP("edc.entries", 3): 40, TP("edc.queries", 0): 7})
    monitor.tp_read_offsets[TP("edc.entries", 3)] = 90  # as Monitor.on_message_in keeps them
    monitor.tp_read_offsets[TP("edc.queries", 0)] = 6
    assigned = {
        TopicPartition("edc.entries", 3),
        TopicPartition("edc.queries", 0),
        TopicPartition(live.settings.shard_topic, 3),
    }
    live.broker_watch.watch_stalls(assigned)
    clock.now += 60
    live.broker_watch.watch_stalls(assigned)
    assert live.stalls.stuck == [("edc.entries", 3)]
    assert live.health["edc.entries"].stuck_partitions == 1
    collector = EngineCollector(lambda: [], live.health, lambda: 0)
    samples = {
        (s.name, s.labels.get("topic")): s.value
        for family in collector.collect()
        for s in family.samples
        if s.name == "edc_input_partitions_stuck"
    }
    assert samples == {
        ("edc_input_partitions_stuck", "edc.entries"): 1,
        ("edc_input_partitions_stuck", "edc.queries"): 0,
        ("edc_input_partitions_stuck", "dashboard.publishes"): 0,
    }
