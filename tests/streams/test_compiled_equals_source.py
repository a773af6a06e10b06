"""The engine as installed (compiled by setup.py where a compiler was found) equals its source.

The ``.py`` files are the reference: the same random events through the loaded engine
and through its interpreted twin (tests/interpreted_twin.py) give equal results per
event and equal figures, windows and scorecards.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import streams.engine
import streams.parts
import streams.queries
import streams.scorecards
import streams.visits
import streams.windows
from streams import tumbling_windows
from streams.scorecards import scorecards
from tests.interpreted_twin import interpreted
from tests.streams.brute_force import dedupe
from tests.streams.shapes import scorecards_dict, snapshot_dict, windows_list
from tests.streams.strategies import DAY, HOUR, arrivals, engine_config, instants
from tests.streams.test_stages import staged_arrivals, staged_config

TWIN = interpreted(
    (
        "streams.engine",
        "streams.queries",
        "streams.scorecards",
        "streams.visits",
        "streams.windows",
    ),
    ("streams",),
)


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
    st.booleans(),
)
def test_loaded_engine_equals_its_source(events, as_of, breakdown, retention, size, deduplicated):
    config = engine_config(retention_us=retention, breakdown=breakdown)
    if deduplicated:  # as the replay feeds it: only the first event of each id
        events = dedupe(events)
    loaded = streams.engine.Engine(config, ids_deduplicated=deduplicated)
    twin = TWIN["streams.engine"].Engine(config, ids_deduplicated=deduplicated)
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


@settings(max_examples=200, deadline=None)
@given(
    staged_arrivals,
    instants,
    st.sampled_from([6 * HOUR, DAY, 5 * HOUR + 1]),
    st.sampled_from([None, 0, 3 * DAY]),
)
def test_the_replays_parts_equal_their_source(events, as_of, size, since_back):
    """What the replay asks of an engine (agents/audit/replay/engine_parts.py), typed in
    windows.pxd, scorecards.pxd, stages.pxd and queries.pxd: the same from both."""
    config = staged_config(retention_us=None, breakdown=("site", "country", "vendor"))
    loaded, twin = streams.engine.Engine(config), TWIN["streams.engine"].Engine(config)
    loaded.apply_all(events)
    twin.apply_all(events)
    since = None if since_back is None else as_of - since_back

    def merged_windows(module, engine, **shared):  # type: ignore[no-untyped-def]
        return windows_list(
            module.merge_windows(
                [module.window_parts(engine, as_of, size, since_us=since, **shared)],
                engine.earliest_us, as_of, size, since_us=since,
            )
        )  # fmt: skip

    twin_windows = merged_windows(TWIN["streams.windows"], twin)
    assert merged_windows(streams.windows, loaded) == twin_windows
    cards, twin_cards = streams.scorecards, TWIN["streams.scorecards"]
    assert scorecards_dict(
        cards.merge_scorecard_grains([cards.scorecard_grains(loaded, as_of)])
    ) == scorecards_dict(
        twin_cards.merge_scorecard_grains([twin_cards.scorecard_grains(twin, as_of)])
    )
    # Shared as the replay shares them: the scorecards' group runs and query folds.
    runs: dict[tuple[str, str], list[list[int]]] = {}
    changes: dict[str, list[streams.queries.Changes]] = {}
    grains = cards.scorecard_grains(loaded, as_of, runs, changes)
    assert scorecards_dict(cards.merge_scorecard_grains([grains])) == scorecards_dict(
        twin_cards.merge_scorecard_grains([twin_cards.scorecard_grains(twin, as_of)])
    )
    assert snapshot_dict(
        streams.parts.merge_snapshots(as_of, [streams.parts.snapshot_parts(loaded, as_of, runs)])
    ) == snapshot_dict(twin.snapshot(as_of))
    assert merged_windows(streams.windows, loaded, changes=changes) == twin_windows
    assert [(s, d, asdict(o)) for s, d, o in loaded.stage_observations(as_of)] == [
        (s, d, asdict(o)) for s, d, o in twin.stage_observations(as_of)
    ]
    assert {s: asdict(p) for s, p in streams.visits.visit_parts(loaded, as_of).items()} == {
        s: asdict(p) for s, p in TWIN["streams.visits"].visit_parts(twin, as_of).items()
    }
    for study_id, study in loaded.studies.items():
        for query_id, query in study.queries.queries.items():
            events_of = twin.studies[study_id].queries.queries[query_id].events
            for at in (None, as_of):
                assert streams.queries.fold_values(query.events, at) == TWIN[
                    "streams.queries"
                ].fold_values(events_of, at)


# The modules with a .pxd beside them (setup.py compiles their classes as C types).
TYPED = tuple(
    sorted(f"streams.{p.stem}" for p in Path(streams.engine.__file__).parent.glob("*.pxd"))
)
TYPED_TWIN = interpreted(TYPED, ("streams",))


def test_every_slot_of_a_typed_class_is_declared_in_its_pxd():
    """A C type has exactly the attributes its .pxd declares: a slot added to the .py
    without it would fail only when compiled, at the first assignment."""
    import importlib

    for name in TYPED:
        loaded, source = importlib.import_module(name), TYPED_TWIN[name]
        for class_name, reference in vars(source).items():
            if not isinstance(reference, type) or reference.__module__ != name:
                continue
            declared = getattr(loaded, class_name)
            for slot in getattr(reference, "__slots__", ()):
                assert hasattr(declared, slot), f"{name}.{class_name}.{slot}"


def test_the_hour_written_out_in_the_hot_paths_is_the_hour():
    """streams/latency.py, engine.py and dedupe.py divide by the hour in two literal steps
    (C divisions when compiled): they must make the hour the rest of the code files by."""
    from schemas.timestamps import US_PER_HOUR
    from streams.latency import BUCKET_US

    assert BUCKET_US == US_PER_HOUR == 60_000_000 * 60
    for module in ("latency", "engine", "dedupe"):
        source = (Path(streams.engine.__file__).parent / f"{module}.py").read_text()
        assert "// 60_000_000 // 60" in source, module


@given(st.integers(min_value=-(2**64), max_value=2**64))
def test_dividing_in_two_steps_is_dividing_by_the_hour(instant):
    # Floor division by a then by b is floor division by a * b, negative instants too.
    assert instant // 60_000_000 // 60 == instant // 3_600_000_000
