"""An engine told that its feed drops repeated event ids (``Engine(ids_deduplicated=True)``,
as the audit replay's readers do) answers exactly what an engine that drops them itself
answers, fed every event: the first valid event of an id wins either way."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent
from streams import ACCEPTED, DUPLICATE, Engine, tumbling_windows
from streams.scorecards import scorecards
from tests.streams.brute_force import dedupe
from tests.streams.shapes import scorecards_dict, snapshot_dict, windows_list
from tests.streams.strategies import DAY, HOUR, arrivals, engine_config, instants


@settings(max_examples=300, deadline=None)
@given(
    arrivals,
    instants,
    st.sampled_from([(), ("site",), ("site", "country", "vendor")]),
    st.sampled_from([6 * HOUR, DAY]),
)
def test_a_feed_that_drops_repeated_ids_gives_the_engine_that_drops_them(
    events, as_of, breakdown, size
):
    config = engine_config(retention_us=None, breakdown=breakdown)
    itself, told = Engine(config), Engine(config, ids_deduplicated=True)
    outcomes = [itself.apply(event) for event in events]
    first = dedupe(events)
    assert [told.apply(event) for event in first] == [o for o in outcomes if o != DUPLICATE]
    assert itself.counters.duplicates == len(events) - len(first)
    assert told.counters.duplicates == 0  # the feed counts them (agents/audit/replay/reader.py)
    assert len(told.event_ids) == 0  # no memory of ids kept
    told.counters.duplicates = itself.counters.duplicates
    assert told.counters == itself.counters
    assert (told.watermark_us, told.earliest_us) == (itself.watermark_us, itself.earliest_us)
    assert snapshot_dict(told.snapshot(as_of)) == snapshot_dict(itself.snapshot(as_of))
    assert windows_list(tumbling_windows(told, as_of, size)) == windows_list(
        tumbling_windows(itself, as_of, size)
    )
    if breakdown == ("site", "country", "vendor"):  # what scorecards need
        assert scorecards_dict(scorecards(told, as_of)) == scorecards_dict(
            scorecards(itself, as_of)
        )
    state, expected = told.to_state(), itself.to_state()
    del state["event_ids"], expected["event_ids"]
    assert state == expected


def test_an_engine_not_told_keeps_dropping_repeated_ids_itself():
    """The live shards read topics that may repeat anything: their engines keep the memory."""
    entry = EntryEvent(
        event_id="e1", study_id="S", site_id="s", subject_id="x", form_id="f",
        record_id="r", entered_at=1_767_225_600_000_000,
    )  # fmt: skip
    engine = Engine(engine_config(retention_us=None))
    assert engine.apply(entry) == ACCEPTED
    assert engine.apply(entry) == DUPLICATE
    assert engine.counters.duplicates == 1
    assert engine.counters.accepted == 1
