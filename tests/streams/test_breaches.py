"""Over SLA, counted when it happens: an entry whose deadline passes unpublished is a breach
once, whether published later or not (docs/kpis.md, "Over SLA"), against the brute force."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, PublishEvent, format_timestamp
from streams import Engine
from tests.streams import brute_force
from tests.streams.strategies import (
    BASE,
    DAY,
    DEFAULT_CONFIG,
    HOUR,
    STUDY_CONFIG,
    _valid,
    arrivals,
    engine_config,
)


def _counted(engine: Engine) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (study, dashboard): the live over-SLA count and the withdrawn ones within it."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for study_id, dashboard, key, over in engine.over_sla_by_group():
        withdrawn = engine.studies[study_id].dashboards[dashboard].groups[key].tally
        total, back = out.get((study_id, dashboard), (0, 0))
        out[(study_id, dashboard)] = (total + over, back + withdrawn.breaches_withdrawn)
    return {k: v for k, v in out.items() if v != (0, 0)}


@settings(max_examples=300, deadline=None)
@given(arrivals, st.sampled_from([None, 60 * DAY]), st.sampled_from([(), ("site", "vendor")]))
def test_the_live_count_is_each_breach_once_when_its_deadline_passed(events, retention, breakdown):
    engine = Engine(engine_config(retention_us=retention, breakdown=breakdown))
    engine.apply_all(events)
    assert _counted(engine) == brute_force.breaches_as_counted(events, STUDY_CONFIG, DEFAULT_CONFIG)


@settings(max_examples=200, deadline=None)
@given(arrivals)
def test_live_less_withdrawn_is_the_replay_as_of_the_watermark_after_every_event(events):
    """The counter's truth at each step: the report's over SLA as of the engine's clock."""
    engine = Engine(engine_config(retention_us=None))  # the oracle never forgets an event id
    for n, event in enumerate(events, 1):
        engine.apply(event)
        clock = engine.watermark_us
        expected = brute_force.snapshot(events[:n], STUDY_CONFIG, DEFAULT_CONFIG, clock)
        live = _counted(engine)
        for study_id, figures in expected["studies"].items():
            for dashboard, d in figures["dashboards"].items():
                total, withdrawn = live.get((study_id, dashboard), (0, 0))
                assert total - withdrawn == d["latency"]["over_sla"]


def _entry(event_id: str, entered_us: int) -> EntryEvent:
    return _valid(EntryEvent, {
        "schema": "edc.entry/1", "event_id": event_id, "study_id": "S2", "site_id": "site-1",
        "subject_id": "subj", "form_id": "form", "record_id": event_id,
        "entered_at": format_timestamp(entered_us), "action": "create",
    })  # fmt: skip


def _snapshot_publish(event_id: str, published_us: int) -> PublishEvent:
    return _valid(PublishEvent, {
        "schema": "dashboard.publish/1", "event_id": event_id, "study_id": "S2",
        "dashboard": "default", "published_at": format_timestamp(published_us),
        "data_cutoff": format_timestamp(published_us),
    })  # fmt: skip


def _over(engine: Engine) -> int:
    return sum(over for *_key, over in engine.over_sla_by_group())


SLA = DEFAULT_CONFIG[1]  # S2 has the default study settings: 24 h


def test_the_deadline_passes_after_entered_plus_sla_not_at_it():
    """The boundary of 'age > SLA': the clock at the deadline is not over; 1 µs later is."""
    engine = Engine(engine_config())
    engine.apply(_entry("a", BASE))
    engine.apply(_entry("clock-at-deadline", BASE + SLA))
    assert _over(engine) == 0
    engine.apply(_entry("clock-past-deadline", BASE + SLA + 1))
    assert _over(engine) == 1


def test_published_at_the_deadline_is_within_and_one_microsecond_later_is_over():
    engine = Engine(engine_config())
    engine.apply(_entry("a", BASE))
    engine.apply(_snapshot_publish("p", BASE + SLA))
    assert (_over(engine), engine.snapshot(BASE + SLA).studies["S2"].dashboards["default"]
            .latency.within_sla) == (0, 1)  # fmt: skip
    late = Engine(engine_config())
    late.apply(_entry("a", BASE))
    late.apply(_snapshot_publish("p", BASE + SLA + 1))
    assert _over(late) == 1


def test_a_study_that_stops_publishing_keeps_counting_breaches():
    """Entries keep coming, publishes stopped: every entry past its deadline is a breach."""
    engine = Engine(engine_config())
    for hour in range(48):
        engine.apply(_entry(f"e{hour}", BASE + hour * HOUR))
    # Entered at hours 0..23 are past their 24 h deadline when the clock reads hour 47.
    assert _over(engine) == 23
    figures = engine.snapshot(BASE + 47 * HOUR).studies["S2"].dashboards["default"].latency
    assert (figures.within_sla, figures.over_sla, figures.share_within_sla) == (0, 23, 0)


def test_a_late_publish_in_time_withdraws_and_a_later_publish_counts_once():
    engine = Engine(engine_config())
    engine.apply(_entry("a", BASE))
    engine.apply(_entry("b", BASE + 2 * HOUR))
    engine.apply(_entry("clock", BASE + SLA + 3 * HOUR))  # both past their deadline
    assert _over(engine) == 2
    engine.apply(_snapshot_publish("late-but-in-time", BASE + HOUR))  # covers a, not b
    engine.apply(_snapshot_publish("after-the-deadline", BASE + SLA + 4 * HOUR))  # covers b
    tally = engine.studies["S2"].dashboards["default"].groups[()].tally
    assert (_over(engine), tally.breaches_withdrawn) == (2, 1)  # b once; a withdrawn


def test_a_shard_that_hears_nothing_of_its_own_still_sees_deadlines_pass():
    """A shard whose study falls silent (no entry, no publish) hears of the other inputs'
    progress from the router: its entry is a breach when one engine fed everything says so,
    and a late, earlier publish then withdraws it without the counter going back."""
    quiet, busy, one = (Engine(engine_config()) for _ in range(3))
    for engine in (quiet, busy, one):
        engine.track_inputs()
    entry = _entry("a", BASE)
    quiet.apply(entry)
    one.apply(entry)
    elsewhere = _valid(EntryEvent, {
        "schema": "edc.entry/1", "event_id": "b", "study_id": "S1", "site_id": "site-1",
        "subject_id": "subj", "form_id": "form", "record_id": "b",
        "entered_at": format_timestamp(BASE + SLA + 1), "action": "create",
    })  # fmt: skip
    busy.apply(elsewhere)
    one.apply(elsewhere)
    assert (_over(quiet), _over(one)) == (0, 1)  # the quiet shard's own clock stopped at BASE
    # The router's timer: input 0 partition 0 got to the other study's entry.
    for engine in (quiet, busy, one):
        engine.note_inputs([(0, 0, BASE + SLA + 1, False)], [1])
    assert (_over(quiet), _over(one)) == (1, 1)
    exported_before = _over(quiet)
    quiet.apply(_snapshot_publish("late-but-in-time", BASE + HOUR))
    tally = quiet.studies["S2"].dashboards["default"].groups[()].tally
    assert tally.breaches_withdrawn == 1  # shown in time: withdrawn, not uncounted
    assert _over(quiet) + tally.breaches_withdrawn >= exported_before
