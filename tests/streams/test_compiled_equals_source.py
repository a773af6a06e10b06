"""The engine as installed (compiled by setup.py where a compiler was found) equals its source.

The ``.py`` files are the reference: the same random events through the loaded engine
and through its interpreted twin (tests/interpreted_twin.py) give equal results per
event and equal figures, windows and scorecards.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import streams.engine
from streams import tumbling_windows
from streams.scorecards import scorecards
from tests.interpreted_twin import interpreted
from tests.streams.shapes import scorecards_dict, snapshot_dict, windows_list
from tests.streams.strategies import DAY, HOUR, arrivals, engine_config, instants

TWIN = interpreted(("streams.engine", "streams.scorecards", "streams.windows"), ("streams",))


def test_the_twin_runs_from_source_and_apart_from_the_loaded_engine():
    assert TWIN["streams.engine"].__file__.endswith("engine.py")
    assert TWIN["streams.engine"].Engine is not streams.engine.Engine
    # The package as loaded is untouched by the twin's import.
    assert streams.engine.Engine is streams.Engine


@settings(max_examples=300, deadline=None)
@given(
    arrivals,
    instants,
    st.sampled_from([(), ("site",), ("site", "country", "vendor")]),
    st.sampled_from([None, 2 * DAY]),
    st.sampled_from([6 * HOUR, DAY]),
)
def test_loaded_engine_equals_its_source(events, as_of, breakdown, retention, size):
    config = engine_config(retention_us=retention, breakdown=breakdown)
    loaded, twin = streams.engine.Engine(config), TWIN["streams.engine"].Engine(config)
    assert [loaded.apply(e) for e in events] == [twin.apply(e) for e in events]
    assert loaded.watermark_us == twin.watermark_us
    assert snapshot_dict(loaded.snapshot(as_of)) == snapshot_dict(twin.snapshot(as_of))
    assert windows_list(tumbling_windows(loaded, as_of, size)) == windows_list(
        TWIN["streams.windows"].tumbling_windows(twin, as_of, size)
    )
    if breakdown == ("site", "country", "vendor"):
        assert scorecards_dict(scorecards(loaded, as_of)) == scorecards_dict(
            TWIN["streams.scorecards"].scorecards(twin, as_of)
        )
