"""publish_times_by_arrival: every retained entry's publish time by its arrival number, as
``GroupLedger.published_of`` answers it one entry at a time (the replay's entries.csv reads
them so); compiled and from source alike."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

import streams.latency
from schemas import EntryEvent, PublishEvent
from schemas.timestamps import parse_timestamp_us
from streams import ACCEPTED, Engine
from streams.latency import entry_key
from tests.interpreted_twin import interpreted
from tests.streams.strategies import DAY, HOUR, arrivals, engine_config, instants

TWIN = interpreted(("streams.latency",), ("streams",))
UNTOUCHED, PENDING = -(1 << 63), -(1 << 63) + 1
FUNCTIONS = {
    "loaded": streams.latency.publish_times_by_arrival,
    "source": TWIN["streams.latency"].publish_times_by_arrival,
}


def _expected(engine: Engine, entries: list[tuple[int, EntryEvent, tuple[str, ...]]]) -> dict:
    """Per (study, dashboard), each arrival number's slot as published_of finds its entry
    one key at a time: its publish time, PENDING, or untouched (not retained, or not an
    entry of that dashboard)."""
    expected: dict[tuple[str, str], list[int]] = {}
    for study_id, study in engine.studies.items():
        for name in study.dashboards:
            expected[study_id, name] = [UNTOUCHED] * (engine.seq + 1)
    for seq, event, group_key in entries:
        for name, ledger in engine.studies[event.study_id].dashboards.items():
            group = ledger.groups[group_key]
            try:
                published = group.published_of(entry_key(event.entered_at, seq, group.index))
            except LookupError:  # pruned by the retention: never written
                continue
            expected[event.study_id, name][seq] = PENDING if published is None else published
    return expected


@settings(max_examples=200, deadline=None)
@given(
    arrivals,
    st.sampled_from([(), ("site",), ("site", "country", "vendor")]),
    st.sampled_from([None, DAY]),
    st.sampled_from(["array", "list"]),
    st.none() | instants,
)
def test_each_retained_entry_has_its_publish_time_at_its_arrival_number(
    events, breakdown, retention, container, cutoff
):
    engine = Engine(engine_config(breakdown=breakdown, retention_us=retention))
    entries = []
    for event in events:
        if engine.apply(event) == ACCEPTED and isinstance(event, EntryEvent):
            entries.append((engine.last_entry_seq, event, engine.last_entry_group))
    if cutoff is not None:  # then a snapshot of every dashboard: most entries published
        for study_id, study in list(engine.studies.items()):
            for name in study.dashboards:
                engine.apply(PublishEvent(event_id=f"snapshot {study_id} {name}",
                                          study_id=study_id, dashboard=name,
                                          published_at=cutoff + HOUR, data_cutoff=cutoff))  # fmt: skip
    expected = _expected(engine, entries)
    for function in FUNCTIONS.values():
        for (study_id, name), slots in expected.items():
            times = [UNTOUCHED] * (engine.seq + 1)
            if container == "array":
                times = array("q", times)  # type: ignore[assignment]
            function(engine.studies[study_id].dashboards[name], times, PENDING)
            assert list(times) == slots


def _entry(event_id: str, study_id: str, record_id: str, entered: str) -> EntryEvent:
    return EntryEvent(event_id=event_id, study_id=study_id, site_id="X", subject_id="s",
                      form_id="f", record_id=record_id, entered_at=parse_timestamp_us(entered))  # fmt: skip


def test_publish_times_on_an_entrys_arrival_number_and_no_other():
    """A worked case: of S2's two entries the first is published by a snapshot and the
    second pending; the slots of S3's entry and of the publish stay untouched."""
    engine = Engine(engine_config())
    published_us = parse_timestamp_us("2024-01-01T03:00:00Z")
    for event in (
        _entry("a", "S2", "r1", "2024-01-01T01:00:00Z"),
        _entry("b", "S3", "r1", "2024-01-01T01:00:00Z"),
        PublishEvent(
            event_id="p",
            study_id="S2",
            published_at=published_us,
            data_cutoff=parse_timestamp_us("2024-01-01T02:00:00Z"),
        ),
        _entry("c", "S2", "r2", "2024-01-01T04:00:00Z"),
    ):
        assert engine.apply(event) == ACCEPTED
    for function in FUNCTIONS.values():
        times = array("q", [UNTOUCHED]) * (engine.seq + 1)
        function(engine.studies["S2"].dashboards["default"], times, PENDING)
        # arrival numbers 1 to 4: a, b, the publish, c
        assert list(times) == [UNTOUCHED, published_us, UNTOUCHED, UNTOUCHED, PENDING]
