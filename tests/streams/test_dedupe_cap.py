"""The cap on remembered event ids (``EngineConfig.max_event_ids``), against a brute-force twin.

The twin keeps every (event hour, arrival, id) in a list and, when over the cap,
drops the smallest by (hour, arrival) down to the same floor: what "the oldest ids
go first" means, written the slow and obvious way.
"""

from __future__ import annotations

import os

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent
from schemas.timestamps import US_PER_DAY, US_PER_HOUR
from streams import ACCEPTED, DUPLICATE, Engine, EngineConfig
from streams.dedupe import EventIdMemory

BASE_US = 1_767_225_600_000_000  # 2026-01-01

FUZZ = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1  # make fuzz


def _keep(cap: int) -> int:
    return cap - (cap >> 6)  # the engine evicts down to this floor (a slab at a time)


class _Twin:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.ids: list[tuple[int, int, str]] = []
        self.evicted = 0

    def apply(self, event_id: str, hour: int) -> bool:
        if any(known == event_id for _h, _n, known in self.ids):
            return False
        self.ids.append((hour, len(self.ids) + self.evicted, event_id))
        if len(self.ids) > self.cap:
            self.ids.sort()
            drop = len(self.ids) - _keep(self.cap)
            self.evicted += drop
            self.ids = self.ids[drop:]
        return True


def _entry(event_id: str, hour: int) -> EntryEvent:
    return EntryEvent(
        event_id=event_id, study_id="S", site_id="s", subject_id="x", form_id="f",
        record_id=f"r-{event_id}", entered_at=BASE_US + hour * US_PER_HOUR,
    )  # fmt: skip


@settings(max_examples=FUZZ * 300, deadline=None)
@given(
    cap=st.integers(1, 80),
    arrivals=st.lists(st.tuples(st.integers(0, 150), st.integers(0, 40)), max_size=200),
)
def test_the_engine_forgets_the_oldest_hours_first_like_its_twin(cap, arrivals):
    engine = Engine(EngineConfig(retention_us=30 * US_PER_DAY, max_event_ids=cap))
    twin = _Twin(cap)
    for number, hour in arrivals:
        event_id = f"e{number}"
        outcome = engine.apply(_entry(event_id, hour))
        assert (outcome == ACCEPTED) == twin.apply(event_id, hour)
        assert len(engine.event_ids) <= cap
        assert set(engine.event_ids.seen) == {known for _h, _n, known in twin.ids}
    assert engine.counters.evicted_ids == twin.evicted
    filed = [i for bucket in engine.event_ids.by_hour.values() for i in bucket]
    assert sorted(filed) == sorted(engine.event_ids.seen)  # no evicted id kept in a bucket


def test_at_the_cap_nothing_is_forgotten_and_one_more_evicts_the_oldest():
    engine = Engine(EngineConfig(retention_us=7 * US_PER_DAY, max_event_ids=1000))
    for i in range(1000):
        engine.apply(_entry(f"e{i}", i // 100))  # ten hours, in order
    assert len(engine.event_ids) == 1000 and engine.counters.evicted_ids == 0
    assert engine.apply(_entry("e0", 0)) == DUPLICATE  # still remembered at the cap
    engine.apply(_entry("late", 0))  # one over: a slab of the oldest hour goes
    assert engine.counters.evicted_ids == 1001 - _keep(1000)
    assert len(engine.event_ids) == _keep(1000)
    assert engine.apply(_entry("e0", 0)) == ACCEPTED  # forgotten: a repeat counts again
    assert engine.apply(_entry("e999", 9)) == DUPLICATE  # the newest hours are kept


def test_the_probes_distinct_long_ids_stay_within_the_cap():
    engine = Engine(EngineConfig(retention_us=7 * US_PER_DAY, max_event_ids=5000))
    for i in range(50_000):  # every id distinct and 128 characters, as the probe sent
        engine.apply(_entry(f"{i:08d}".ljust(128, "x"), i // 1000))
    assert len(engine.event_ids) <= 5000
    assert engine.counters.evicted_ids == 50_000 - len(engine.event_ids)


def test_a_checkpointed_engine_keeps_its_cap_after_a_restore():
    config = EngineConfig(retention_us=7 * US_PER_DAY, max_event_ids=100)
    engine = Engine(config)
    for i in range(100):
        engine.apply(_entry(f"e{i}", i))
    restored = Engine.from_state(
        config, msgspec.json.decode(msgspec.json.encode(engine.to_state()))
    )
    restored.apply(_entry("one-more", 100))
    assert len(restored.event_ids) == _keep(100)


def test_the_memory_evicts_nothing_under_its_keep():
    memory = EventIdMemory()
    memory.remember("a", BASE_US)
    assert memory.evict(1) == 0 and memory.evict(0) == 1 and not memory.seen and not memory.by_hour


def test_ids_of_the_hour_filed_last_are_forgotten_with_it_and_filed_again_after():
    memory = EventIdMemory()
    for event_id in ("a", "b"):  # the second takes the same-hour path
        assert memory.first_time(event_id, 5 * US_PER_HOUR)
    memory.prune(6 * US_PER_HOUR)  # the hour ends at the horizon
    assert len(memory) == 0 and memory.by_hour == {}
    assert memory.first_time("c", 5 * US_PER_HOUR + 1)  # that hour again, after its pruning
    memory.prune(6 * US_PER_HOUR)
    assert memory.first_time("c", 5 * US_PER_HOUR)  # it was filed, so it was forgotten


def test_eviction_takes_exactly_the_excess_from_the_oldest_hours():
    memory = EventIdMemory()
    for hour in range(3):
        for n in range(2):
            memory.remember(f"{hour}-{n}", hour * US_PER_HOUR)
    assert memory.evict(keep=3) == 3
    assert sorted(memory.seen) == ["1-1", "2-0", "2-1"]
    assert memory.evict(keep=2) == 1  # the last hour filed is emptied next time round
    assert memory.evict(keep=0) == 2
    assert memory.first_time("2-0", 2 * US_PER_HOUR)  # filed again under the same hour
    assert memory.evict(keep=0) == 1
    assert (len(memory), memory.by_hour) == (0, {})
    alone = EventIdMemory()  # the hour filed last is the only one: evicted whole, then again
    alone.remember("x", 7 * US_PER_HOUR)
    assert alone.evict(keep=0) == 1
    assert alone.first_time("x", 7 * US_PER_HOUR)
    assert alone.evict(keep=0) == 1
