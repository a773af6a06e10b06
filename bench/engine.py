"""Engine alone: already-parsed events in, figures out. Every figure beside its floor."""

from __future__ import annotations

import gc
import itertools
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from schemas import EntryEvent, PublishEvent, Rejection, parse_event
from schemas.compiled import INTERPRETED_ENV
from streams import Engine, EngineConfig

BASE_US = 1_767_225_600_000_000
SECOND_US = 1_000_000


def _entries(n: int, study: str = "BIG", spacing_us: int = SECOND_US) -> list[EntryEvent]:
    make = EntryEvent
    # fmt: off
    return [
        make(
            event_id=f"{study}-e{i:08d}", study_id=study,
            site_id=f"site-{i % 50}", subject_id="", form_id="f", record_id=f"{study}-r{i:08d}",
            entered_at=BASE_US + i * spacing_us, country="DE", vendor=None, action="create",
        )
        for i in range(n)
    ]
    # fmt: on


def _snapshot(study: str, cutoff_us: int, published_us: int, event_id: str) -> PublishEvent:
    return PublishEvent(
        event_id=event_id, study_id=study, published_at=published_us,
        record_ids=None, data_cutoff=cutoff_us, dashboard="default",
    )  # fmt: skip


def events_per_second(events: list[Any], rounds: int = 3) -> dict[str, float]:
    """Engine.apply over parsed events, against the floor of a bare loop touching each event.

    Best of `rounds` for both, each time with a new engine: on a shared machine a
    neighbour's burst only ever slows a round down.
    """
    floor_s = elapsed = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        sink = 0
        for event in events:
            sink += event.time_us
        floor_s = min(floor_s, time.perf_counter() - started)
        engine = Engine(EngineConfig(retention_us=None))
        gc.collect()
        started = time.perf_counter()
        for event in events:
            engine.apply(event)
        elapsed = min(elapsed, time.perf_counter() - started)
    return {
        "events": len(events),
        "events_per_s": round(len(events) / elapsed),
        "floor_events_per_s": round(len(events) / floor_s),
        "ratio_to_floor": round(floor_s / elapsed, 4),
    }


def bytes_per_pending_entry(n: int) -> dict[str, float]:
    """Memory the engine holds per pending entry (no publish), traced by tracemalloc.

    The floor is what the entry's own identifiers (event id and record id
    strings) take, which any design must keep somewhere.
    """
    events = _entries(n)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine = Engine(EngineConfig())  # live settings: retention on
    for event in events:
        engine.apply(event)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    import sys

    floor = (
        sum(sys.getsizeof(e.event_id) + sys.getsizeof(e.record_id) for e in events[:1000]) / 1000
    )
    per_entry = (after - before) / n
    return {
        "pending_entries": n,
        "bytes_per_pending_entry": round(per_entry, 1),
        "floor_bytes_identifiers": round(floor, 1),
        "ratio_to_floor": round(floor / per_entry, 4),
    }


def snapshot_publish_cost(pending: int = 100_000, covered: int = 1_000) -> dict[str, float]:
    """A snapshot publish covering `covered` entries of a study, beside 100k pending elsewhere.

    O(covered) means: the publish over the small study costs the same with or
    without 100k pending entries in another study; and a publish over the big
    study costs about pending/covered times the small one.
    """
    big = _entries(pending, "BIG")
    small = _entries(covered, "SMALL")

    def timed(events: list[EntryEvent], publish: PublishEvent) -> float:
        engine = Engine(EngineConfig(retention_us=None))
        for event in events:
            engine.apply(event)
        gc.collect()
        started = time.perf_counter()
        engine.apply(publish)
        return time.perf_counter() - started

    end_us = BASE_US + pending * SECOND_US
    alone = min(timed(small, _snapshot("SMALL", end_us, end_us, f"p{i}")) for i in range(3))
    beside = min(timed(big + small, _snapshot("SMALL", end_us, end_us, f"q{i}")) for i in range(3))
    whole = min(timed(big, _snapshot("BIG", end_us, end_us, f"r{i}")) for i in range(3))
    return {
        "covered_entries": covered,
        "other_pending_entries": pending,
        "publish_small_study_alone_ms": round(alone * 1000, 3),
        "publish_small_study_beside_100k_ms": round(beside * 1000, 3),
        "ratio_beside_to_alone": round(beside / alone, 3),
        "publish_covering_100k_ms": round(whole * 1000, 3),
        "us_per_covered_entry": round(whole / pending * 1e6, 3),
    }


def simulated_events(n: int) -> list[Any]:
    """The first ``n`` valid events of the simulator's mix (seed 1), parsed."""
    from agents.sim.simulator import Simulation

    parsed = (parse_event(value) for _kind, value in Simulation(seed=1).events(3650 * 86_400_000_000))
    return list(itertools.islice((e for e in parsed if not isinstance(e, Rejection)), n))


def interpreted_events_per_second(n: int) -> dict[str, float]:
    """``events_per_second`` in a process that runs the engine from its source
    (``EDC_LATENCY_INTERPRETED=1``): the compiled modules' gain, in the same run."""
    code = (
        "import json; from bench.engine import events_per_second, simulated_events; "
        f"print(json.dumps(events_per_second(simulated_events({n}))))"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, INTERPRETED_ENV: "1"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(printed.splitlines()[-1])  # type: ignore[no-any-return]
