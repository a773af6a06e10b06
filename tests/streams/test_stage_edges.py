"""Pipeline stages at equal instants, and the stage ledgers' bound in live use
(streams/stages.py; the rules: docs/design.md, "Pipeline stages")."""

from __future__ import annotations

from streams import Engine
from streams.schedules import CADENCE_HISTORY
from streams.stages import stage_durations
from tests.streams.strategies import BASE, DAY, HOUR
from tests.streams.test_stages import _entry, _publish, _run, _stage, staged_config


def test_a_stage_completed_at_t_ends_its_duration_at_t():
    # entered at 0, extract completed at T, published at T + 1 h, asked as of T + 1 h.
    assert stage_durations(BASE, BASE + 2 * HOUR, [BASE + HOUR], BASE + HOUR) == [HOUR, HOUR]
    assert stage_durations(BASE, BASE + 2 * HOUR, [BASE + HOUR], BASE + HOUR - 1) == [0, 2 * HOUR]


def test_an_entry_published_the_instant_it_was_entered_counts_as_of_that_instant():
    engine = _run([_entry("e", "r", BASE), _publish("p", "r", BASE)], 0)
    figures = engine.pipeline_figures(BASE)["S1"]["default"]
    assert [s.count for s in figures.stages] == [1, 1, 1]
    assert [s.sum_us for s in figures.stages] == [0, 0, 0]
    before = engine.pipeline_figures(BASE - 1)["S1"]["default"]
    assert [s.count for s in before.stages] == [0, 0, 0]


def test_every_breach_of_a_group_is_charged_and_pending_entries_after_published_ones_count():
    events = [
        _entry("a", "ra", BASE), _entry("b", "rb", BASE + 1), _entry("c", "rc", BASE + DAY),
        _publish("pa", "ra", BASE + 7 * HOUR), _publish("pb", "rb", BASE + 8 * HOUR),
        _entry("d", "rd", BASE + 2), _entry("e", "re", BASE + 3),
    ]  # fmt: skip
    figures = _run(events, 0).pipeline_figures(BASE + DAY)["S1"]["default"]
    assert figures.breaches == 2 and [s.breaches_charged for s in figures.stages] == [0, 0, 2]
    assert [s.pending for s in figures.stages] == [3, 0, 0]  # rc, rd, re: none completed


def test_in_live_use_a_stage_ledger_keeps_the_newest_publish_instants_only():
    engine = Engine(staged_config(retention_us=30 * DAY))
    engine.apply(_entry("e", "r", BASE))
    for n in range(CADENCE_HISTORY + 8):
        engine.apply(_stage(f"x{n}", "extract", BASE + n * HOUR))
    (s1,) = [study for study in engine.to_state()["studies"] if study[0] == "S1"]
    (pipeline,) = [p for p in s1[5] if p[0] == "default"]
    kept = pipeline[2][0][8]  # the extract ledger's publish instants
    assert kept == [BASE + n * HOUR for n in range(8, CADENCE_HISTORY + 8)]


def _hours(engine: Engine) -> tuple[set[int], set[int]]:
    """(hours the dashboard keeps, hours its stage ledgers keep) of S1's default dashboard."""
    study = engine.studies["S1"]
    kept = set()
    for group in study.dashboards["default"].groups.values():
        kept |= set(group.pending) | set(group.published)
    staged = set()
    for ledger in study.pipelines["default"].ledgers:
        for group in ledger.group_list:
            staged |= set(group.pending) | set(group.published)
    return kept, staged


def test_stage_completions_are_forgotten_with_their_hour_once_it_ends_at_the_horizon():
    hour = BASE // HOUR
    first = [_entry("e", "r", BASE), _stage("x", "extract", BASE + 600_000_000, "r"),
             _publish("p", "r", BASE + 1_200_000_000)]  # fmt: skip
    for margin, forgotten in ((0, True), (1, False)):
        engine = Engine(staged_config(retention_us=DAY))
        engine.apply_all(first)
        # The retention horizon trails the newest event by a day: at BASE + 1 h exactly, the
        # hour of the first entry ends at the horizon.
        engine.apply(_entry("later", "r2", BASE + HOUR + DAY - margin))
        kept, staged = _hours(engine)
        assert staged <= kept | {hour} and (hour in staged) == (hour in kept) == (not forgotten)
