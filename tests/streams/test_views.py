"""What the live collector reads of the engine (agents/metrics/collector.py): per-group
backlogs and open queries, cumulative histogram buckets, and the id memory; each equals
the figures the engine answers as a whole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams import Engine
from streams.dedupe import EventIdMemory
from streams.engine import merge_backlogs, merge_query_figures
from streams.queries import fold
from streams.tally import Tally
from tests.streams.strategies import HOUR, arrivals, engine_config, instants


def test_histogram_buckets_hold_values_up_to_and_including_their_bound():
    """Prometheus buckets are "less than or equal": a value on a bound is in that bucket."""
    tally = Tally((10, 20))
    for value in (9, 10, 11, 20, 21):
        tally.add(value, within_sla=value <= 10)
    assert tally.bucket_counts == [2, 2, 1]
    assert tally.cumulative() == [2, 4, 5]
    assert (tally.count, tally.sum_us, tally.within_sla) == (5, 71, 2)
    # A latency lowered onto a bound lands in that bound's bucket; the count never drops.
    tally.lower(21, 20, was_within=False, is_within=False)
    assert tally.cumulative() == [2, 5, 5]
    tally.lower(11, 10, was_within=False, is_within=True)
    assert tally.cumulative() == [3, 5, 5]
    assert (tally.count, tally.sum_us, tally.corrected_us, tally.within_sla) == (5, 71, 2, 3)


@settings(max_examples=150, deadline=None)
@given(arrivals, instants, st.sampled_from([("site",), ("site", "country", "vendor")]))
def test_per_group_figures_merge_into_the_snapshots(events, as_of, breakdown):
    engine = Engine(engine_config(breakdown=breakdown))
    engine.apply_all(events)
    snapshot = engine.snapshot(as_of)
    backlogs: dict[tuple[str, str], list] = {}
    for study_id, dashboard, _group, backlog in engine.backlog_by_group(as_of):
        backlogs.setdefault((study_id, dashboard), []).append(backlog)
    queries: dict[str, list] = {}
    for study_id, _group, figures in engine.query_figures_by_group(as_of):
        queries.setdefault(study_id, []).append(figures)
    for study_id, study in snapshot.studies.items():
        for name, figures in study.dashboards.items():
            assert merge_backlogs(backlogs.get((study_id, name), [])) == figures.backlog
        assert merge_query_figures(queries.get(study_id, [])) == study.queries


@settings(max_examples=150, deadline=None)
@given(arrivals, instants)
def test_a_querys_state_as_of_t_is_the_fold_of_its_events_up_to_t(events, as_of):
    engine = Engine(engine_config())
    engine.apply_all(events)
    for study in engine.studies.values():
        for query in study.queries.queries.values():
            expected = fold(query.events, as_of)
            state = query.as_of(as_of)
            assert (state.state, state.opened_us, state.orphans) == (
                expected.state,
                expected.opened_us,
                expected.orphans,
            )


def test_the_id_memory_remembers_an_id_until_its_hour_ends_at_the_horizon():
    memory = EventIdMemory()
    assert memory.first_time("a", 5 * HOUR + 1)
    assert not memory.first_time("a", 9 * HOUR)  # the first time wins, whatever the time
    assert memory.first_time("b", 6 * HOUR)
    assert len(memory) == 2
    memory.prune(6 * HOUR - 1)  # "a"'s hour ends at 6 h: not yet at the horizon
    assert not memory.first_time("a", 5 * HOUR)
    memory.prune(6 * HOUR)
    assert len(memory) == 1
    assert memory.first_time("a", 5 * HOUR)
