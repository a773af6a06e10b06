"""Invariants of the engine's internal indexes, after any arrival order and any pruning.

The figures are checked against the brute force elsewhere; these catch index
damage (a key left behind, a record dropped too early) that a figure may not
show until much later.
"""

from __future__ import annotations

import pickle

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import Engine, EngineConfig
from streams.latency import ENTERED_SHIFT, GROUP_MASK
from tests.streams.shapes import snapshot_dict
from tests.streams.strategies import (
    DAY,
    HOUR,
    arrivals,
    engine_config,
)


@settings(max_examples=300, deadline=None)
@given(arrivals, st.sampled_from([None, 6 * HOUR, DAY, 3 * DAY]), st.sampled_from([(), ("site",)]))
def test_record_index_matches_the_buckets(events, retention, breakdown):
    engine = Engine(engine_config(retention_us=retention, breakdown=breakdown))
    engine.apply_all(events)
    for study in engine.studies.values():
        for ledger in study.dashboards.values():
            indexed = {}
            for record_id, known in ledger.by_record.items():
                keys = (known,) if isinstance(known, int) else known
                if not keys:  # the marker of a record known by its publish times only
                    assert record_id in ledger.record_publishes
                assert list(keys) == sorted(keys)  # apply_records bisects them
                for key in keys:
                    indexed[key] = record_id
            assert set(ledger.record_publishes) <= set(ledger.by_record)
            stored = {}
            for group in ledger.groups.values():
                assert ledger.group_list[group.index] is group
                for bucket, entries in group.pending.items():
                    assert entries  # empty buckets are dropped
                    for key, record_id in entries.items():
                        assert (key >> ENTERED_SHIFT) // HOUR == bucket
                        stored[key] = record_id
                for bucket, published in group.published.items():
                    assert set(group.max_published) == set(group.published)
                    assert max(published.values()) <= group.max_published[bucket]
                    records = group.published_records[bucket]
                    assert len(records) == len(published)
                    for key, record_id in zip(published, records, strict=True):
                        assert (key >> ENTERED_SHIFT) // HOUR == bucket
                        assert key & GROUP_MASK == group.index
                        assert key not in stored  # never pending and published at once
                        stored[key] = record_id
                for entry in group.iter_entries():
                    assert entry.published_us == group.published_of(entry.key)
            assert stored == indexed
            for times in ledger.record_publishes.values():
                if not isinstance(times, int):
                    assert len(times) >= 2 and list(times) == sorted(set(times))


@settings(max_examples=200, deadline=None)
@given(arrivals, arrivals, st.sampled_from([None, DAY]))
def test_a_pickled_engine_carries_on_like_the_original(first, then, retention):
    """Checkpoints pickle the engine: the copy must answer, and go on, exactly alike."""
    engine = Engine(EngineConfig(retention_us=retention, breakdown=("site",)))
    engine.apply_all(first)
    copy = pickle.loads(pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL))
    for event in then:
        assert copy.apply(event) == engine.apply(event)
    for as_of in {e.time_us for e in first + then}:
        assert snapshot_dict(copy.snapshot(as_of)) == snapshot_dict(engine.snapshot(as_of))


@settings(max_examples=200, deadline=None)
@given(
    arrivals,
    arrivals,
    st.sampled_from([None, DAY]),
    st.sampled_from([(), ("site",), ("site", "country", "vendor")]),
)
def test_an_engine_restored_from_its_plain_state_carries_on_like_the_original(
    first, then, retention, breakdown
):
    """Checkpoints store Engine.to_state() as JSON: the copy must answer, and go on, exactly alike."""
    config = EngineConfig(retention_us=retention, breakdown=breakdown)
    engine = Engine(config)
    engine.apply_all(first)
    copy = Engine.from_state(config, orjson.loads(orjson.dumps(engine.to_state())))
    assert copy.to_state() == engine.to_state()
    for event in then:
        assert copy.apply(event) == engine.apply(event)
        if retention is not None:
            continue  # last_tracked serves the replay, which keeps everything
        assert [(t.record_id, t.entered_us, t.published_us) for t in copy.last_tracked] == [
            (t.record_id, t.entered_us, t.published_us) for t in engine.last_tracked
        ]
    for as_of in {e.time_us for e in first + then}:
        assert snapshot_dict(copy.snapshot(as_of)) == snapshot_dict(engine.snapshot(as_of))
    assert copy.to_state() == engine.to_state()


# -- a state read back from a checkpoint's bytes (agents/live/checkpoints.py) -------------


def _state_of(config: EngineConfig) -> dict:
    from tests.streams.test_rules import entry, feed, query, records

    engine = Engine(config)
    feed(
        engine,
        entry("e1", "2026-01-05T00:00:00Z", "a"),
        entry("e2", "2026-01-05T01:00:00Z", "b"),
        records("p", "2026-01-05T02:00:00Z", ["a"]),
        query("q", "Q", "opened", "2026-01-05T03:00:00Z"),
    )
    return orjson.loads(orjson.dumps(engine.to_state()))


def test_a_state_decoded_from_its_json_bytes_restores_an_engine_that_answers_alike():
    from streams.state import check_state, decode_state

    config = EngineConfig(retention_us=DAY, breakdown=("site",))
    state = _state_of(config)
    raw = orjson.dumps(state)
    for typed in (decode_state(raw, config), check_state(decode_state(raw, config), config)):
        assert Engine.from_state(config, typed).to_state() == state  # type: ignore[arg-type]


def test_a_state_that_is_not_this_engines_is_refused_in_one_line_naming_why():
    from streams.state import STATE_VERSION, StateError, check_state, decode_state

    config = EngineConfig(retention_us=DAY, breakdown=("site",))
    state = _state_of(config)
    refusals = {
        b"not json": "malformed engine state: not JSON of the engine state layout",
        orjson.dumps({**state, "version": STATE_VERSION - 1}): (
            f"malformed engine state: Expected `int` >= {STATE_VERSION} - at `$.version`"
        ),
        orjson.dumps({**state, "clock": "x"}): (
            "malformed engine state: Expected `array`, got `str` - at `$.clock`"
        ),
    }
    for raw, reason in refusals.items():
        with pytest.raises(StateError) as refused:
            decode_state(raw, config)
        assert str(refused.value) == reason
    typed = decode_state(orjson.dumps(state), config)
    older = msgspec.structs.replace(typed, version=STATE_VERSION - 1)  # built, not decoded
    with pytest.raises(StateError, match=f"^not an engine state of version {STATE_VERSION}$"):
        check_state(older, config)
    other = EngineConfig(retention_us=2 * DAY, breakdown=("site",))
    another = "written with another retention, max_hold, breakdown or bucket bounds"
    with pytest.raises(StateError, match=f"^{another}$"):
        decode_state(orjson.dumps(state), other)
    with pytest.raises(StateError, match=f"^{another}$"):
        check_state(decode_state(orjson.dumps(state), config), other)
