"""Property tests: random events in random arrival orders, every figure against the brute force."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas import Event, QueryEvent, format_timestamp
from schemas.events import document_hook
from streams import Engine, tumbling_windows
from streams.scorecards import scorecards
from tests.streams import brute_force
from tests.streams.shapes import scorecards_dict, snapshot_dict, windows_list
from tests.streams.strategies import (
    BASE,
    DAY,
    DEFAULT_CONFIG,
    HOUR,
    STUDY_CONFIG,
    arrivals,
    engine_config,
    instants,
)


def engine_for(retention_us: int | None = None, breakdown: tuple[str, ...] = ()) -> Engine:
    return Engine(engine_config(retention_us=retention_us, breakdown=breakdown))


@settings(max_examples=300, deadline=None)
@given(arrivals, instants, st.sampled_from([(), ("site",), ("site", "country", "vendor")]))
def test_snapshot_equals_brute_force(events, as_of, breakdown):
    engine = engine_for(breakdown=breakdown)
    engine.apply_all(events)
    expected = brute_force.snapshot(events, STUDY_CONFIG, DEFAULT_CONFIG, as_of)
    assert snapshot_dict(engine.snapshot(as_of)) == expected


@settings(max_examples=200, deadline=None)
@given(arrivals, st.data())
def test_arrival_order_does_not_change_any_figure(events, data):
    """Same first occurrences, any order: the figures are the same.

    Query events keep their relative order: the contract breaks ties of
    occurred_at by arrival order, so only their interleaving with others varies.
    """
    unique = brute_force.dedupe(events)
    shuffled = data.draw(st.permutations(unique))
    in_order = iter([e for e in unique if isinstance(e, QueryEvent)])
    shuffled = [next(in_order) if isinstance(e, QueryEvent) else e for e in shuffled]
    as_of = data.draw(instants)
    a, b = engine_for(), engine_for()
    a.apply_all(unique)
    b.apply_all(shuffled)
    assert snapshot_dict(a.snapshot(as_of)) == snapshot_dict(b.snapshot(as_of))


def _crowded_windows() -> list[Event]:
    """Several hours pending into the same windows and breaching in one, publishes at a
    window's start and at T, and a query changing state on window instants: what a
    drawn list seldom holds all at once (the windows' per-hour counts and ranges)."""
    t = lambda hours: format_timestamp(BASE + int(hours * HOUR))  # noqa: E731
    study = {"study_id": "S2", "site_id": "s", "subject_id": "x", "form_id": "f"}
    entries = [
        {"schema": "edc.entry/1", "event_id": f"e{n}", "record_id": f"r{n}", "entered_at": t(h), **study}
        for n, h in enumerate([1, 1.5, 2, 3, 5, 24, 26, 49, 3.25, 3.5])
    ]  # fmt: skip
    publishes = [
        {"schema": "dashboard.publish/1", "event_id": f"p{n}", "study_id": "S2",
         "published_at": t(h), "record_ids": ids}
        for n, (h, ids) in enumerate(
            [(24, ["r5"]), (30, ["r3", "r4"]), (50, ["r6"]), (72, ["r7"]), (60, ["r8", "r9"])]
        )
    ]  # fmt: skip
    queries = [
        {"schema": "edc.query/1", "event_id": f"q{n}", "query_id": "Q", "study_id": "S2",
         "site_id": "s", "status": status, "occurred_at": t(h)}
        for n, (status, h) in enumerate([("opened", 1), ("answered", 24), ("closed", 48)])
    ]  # fmt: skip
    return [msgspec.json.decode(orjson.dumps(d), type=Event, dec_hook=document_hook)
            for d in entries + publishes + queries]  # fmt: skip


@settings(max_examples=200, deadline=None)
# 5 h + 1 µs: window edges inside hour buckets, off every SLA (streams/windows.py finds
# positions per hour bucket where they are alike, per entry where they are not).
@given(arrivals, instants, st.sampled_from([6 * HOUR, DAY, 5 * HOUR + 1]))
@example([_crowded_windows()[i] for i in (3, 4, 6, 11, 12)], BASE + 72 * HOUR, DAY)  # the oldest
@example(_crowded_windows(), BASE + 72 * HOUR, DAY)
@example(_crowded_windows(), BASE + 72 * HOUR, 6 * HOUR)
@example(_crowded_windows(), BASE + 72 * HOUR, 5 * HOUR + 1)
def test_windows_equal_brute_force(events, as_of, size):
    engine = engine_for()
    engine.apply_all(events)
    expected = brute_force.windows(events, STUDY_CONFIG, DEFAULT_CONFIG, as_of, size)
    assert windows_list(tumbling_windows(engine, as_of, size)) == expected


@settings(max_examples=200, deadline=None)
@given(arrivals, instants)
def test_retention_longer_than_the_data_changes_nothing(events, as_of):
    """Pruning runs, but nothing the events span is old enough to be forgotten."""
    bounded, unbounded = engine_for(retention_us=60 * DAY), engine_for()
    bounded.apply_all(events)
    unbounded.apply_all(events)
    assert snapshot_dict(bounded.snapshot(as_of)) == snapshot_dict(unbounded.snapshot(as_of))


@settings(max_examples=300, deadline=None)
@given(arrivals, instants, st.permutations(["site", "country", "vendor"]))
def test_scorecards_equal_brute_force(events, as_of, breakdown):
    """Per vendor and country (all studies, per study), the spread and the sites behind breaches."""
    engine = engine_for(breakdown=tuple(breakdown))
    engine.apply_all(events)
    expected = brute_force.scorecards(events, STUDY_CONFIG, DEFAULT_CONFIG, as_of)
    assert scorecards_dict(scorecards(engine, as_of)) == expected


def test_scorecards_need_the_site_country_and_vendor_breakdown():
    with pytest.raises(ValueError, match="breakdown"):
        scorecards(engine_for(breakdown=("vendor",)), 0)
