"""Time to breach and publish schedules against the brute force (tests/streams/at_risk_brute_force.py).

Events come from the shared strategies (coarse grids where instants coincide, one
microsecond either side of an hour, fine instants), shifted as a whole onto the
weeks of the daylight-saving changes of Europe/Berlin and America/New_York, and
mixed with publishes on a cadence so that learned cadences occur.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, PublishEvent, QueryEvent, format_timestamp
from streams import Engine, EngineConfig, StudyConfig
from streams.at_risk import (
    at_risk_from_parts,
    at_risk_parts,
    outlooks,
    publish_histories,
    time_to_breach_by_group,
)
from streams.deadlines import TimeToBreach, merge_time_to_breach, time_to_breach
from streams.publish_times import note_publish_time
from streams.schedules import IntervalSchedule, WeeklySchedule, learned_cadence, outlook
from tests.streams import at_risk_brute_force as oracle
from tests.streams.strategies import BASE, DAY, HOUR, MINUTE, _valid, arrivals, instants

EDGES = (HOUR, 4 * HOUR, DAY)
GRACE = 30 * MINUTE
MIN_GAP = 5 * MINUTE
SLA_S1 = 6 * HOUR

# Sundays of the changes in 2024, and the day before: shifted onto these, the coarse
# grid's whole hours land on 02:00 and 03:00 local, inside and at the edges of the gap
# and of the repeated hour.
DST_DAYS = {
    "Europe/Berlin": ("2024-03-30", "2024-03-31", "2024-10-26", "2024-10-27"),
    "America/New_York": ("2024-03-09", "2024-03-10", "2024-11-02", "2024-11-03"),
}


def _us(day: str) -> int:
    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000


SHIFTS = st.sampled_from(
    [0] + [_us(day) - BASE for days in DST_DAYS.values() for day in days]
) | st.builds(lambda h: h * HOUR - 6 * HOUR, st.integers(0, 12)).map(
    lambda h: _us("2024-03-31") - BASE + h
)

weekly_schedules = st.builds(
    lambda zone, times, weekdays: (
        "weekly",
        sorted(set(times)),
        zone,
        tuple(sorted(set(weekdays))),
    ),
    st.sampled_from(sorted(DST_DAYS)),
    st.lists(
        st.sampled_from([(0, 0), (1, 59), (2, 0), (2, 30), (3, 0), (6, 15), (23, 59)]),
        min_size=1,
        max_size=3,
    ),
    st.lists(st.integers(0, 6), min_size=1, max_size=7)
    | st.just([0, 1, 2, 3, 4]),  # weekdays only: the weekend has no publish
)
interval_schedules = st.builds(
    lambda every, anchor: ("interval", every, anchor),
    st.sampled_from([HOUR, 6 * HOUR, DAY, 7 * DAY, 90 * MINUTE]),
    st.sampled_from([0, BASE + 2 * HOUR, BASE + 1]),
)
schedules = st.none() | interval_schedules | weekly_schedules


def _schedule_object(spec: object) -> IntervalSchedule | WeeklySchedule | None:
    if spec is None:
        return None
    if spec[0] == "interval":
        return IntervalSchedule(spec[1], spec[2])
    return WeeklySchedule(tuple(time(h, m) for h, m in spec[1]), spec[2], spec[3])


def _config(spec: object, retention_us: int | None = None, grace: int = GRACE) -> EngineConfig:
    schedule = _schedule_object(spec)
    return EngineConfig(
        default_study=StudyConfig(sla_us=DAY, dashboards=("default",)),
        studies={
            "S1": StudyConfig(
                sla_us=SLA_S1,
                dashboards=("default", "ops"),
                schedules={} if schedule is None else {"default": schedule},
            )
        },
        retention_us=retention_us,
        breakdown=("site",),
        time_left_edges_us=EDGES,
        schedule_grace_us=grace,
        cadence_min_gap_us=MIN_GAP,
    )


def _shift(event: object, by: int) -> object:
    if isinstance(event, EntryEvent):
        return msgspec.structs.replace(event, entered_at=event.entered_at + by)
    if isinstance(event, PublishEvent):
        cutoff = None if event.data_cutoff is None else event.data_cutoff + by
        return msgspec.structs.replace(
            event, published_at=event.published_at + by, data_cutoff=cutoff
        )
    assert isinstance(event, QueryEvent)
    return msgspec.structs.replace(event, occurred_at=event.occurred_at + by)


@st.composite
def cadenced_publishes(draw: st.DrawFn) -> list[PublishEvent]:
    """Publishes of S1's dashboards every `cadence`, some split in parts a few minutes
    apart (within and just over the run gap), some slots skipped."""
    cadence = draw(st.sampled_from([HOUR, 6 * HOUR, DAY]))
    start = draw(instants)
    out = []
    for k in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 5)) == 0:
            continue  # a skipped slot
        for part in draw(
            st.lists(st.sampled_from([0, 1, MIN_GAP, MIN_GAP + 1]), min_size=1, max_size=2)
        ):
            at = start + k * cadence + part
            out.append(
                PublishEvent(
                    event_id=f"c{k}-{part}",
                    study_id="S1",
                    dashboard=draw(st.sampled_from(["default", "ops"])),
                    published_at=at,
                    data_cutoff=at - draw(st.sampled_from([0, HOUR, SLA_S1])),
                    record_ids=None,
                )
            )
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[object], int]:
    shift = draw(SHIFTS)
    events = draw(arrivals) + draw(cadenced_publishes())
    events = draw(st.permutations(events))
    as_of = draw(instants)
    return [_shift(e, shift) for e in events], as_of + shift


def _expected(
    events: list[object], spec: object, as_of: int, grace: int = GRACE
) -> dict[tuple[str, str], dict]:
    out = {}
    studies = sorted(
        {e.study_id for e in oracle.dedupe(events) if isinstance(e, EntryEvent | PublishEvent)}
    )
    for study in studies:
        dashboards, sla = (("default", "ops"), SLA_S1) if study == "S1" else (("default",), DAY)
        for dashboard in dashboards:
            schedule = spec if (study, dashboard) == ("S1", "default") else None
            out[(study, dashboard)] = oracle.dashboard_at_risk(
                events, study, dashboard, sla, schedule, as_of, EDGES, grace, MIN_GAP
            )
    return out


def _answer(figures, seen) -> dict:
    return {
        "by_time_left": figures.by_time_left,
        "earliest_deadline": figures.earliest_deadline_us,
        "certain_breaches": figures.certain_breaches,
        "schedule": None
        if seen is None
        else {
            "next": seen.next_publish_us,
            "due": seen.due_us,
            "missed": seen.missed,
            "learned": seen.learned,
        },
    }


def _replay_view(engine: Engine, as_of: int) -> dict[tuple[str, str], dict]:
    merged = at_risk_from_parts(engine.config, [at_risk_parts(engine, as_of)], as_of)
    return {
        (study, dashboard): _answer(risk.time_to_breach, risk.outlook)
        for study, dashboards in merged.items()
        for dashboard, risk in dashboards.items()
    }


def _live_view(engines: list[Engine], as_of: int) -> dict[tuple[str, str], dict]:
    """As the live collector reads shards: the schedule from the merged history, then each
    engine's groups counted against it, summed."""
    expected = outlooks(engines[0].config, publish_histories(engines), as_of)
    parts: dict[tuple[str, str], list] = {}
    for engine in engines:
        for study, dashboard, _group, figures in time_to_breach_by_group(engine, as_of, expected):
            parts.setdefault((study, dashboard), []).append(figures)
    out = {}
    for key, seen in expected.items():
        # A dashboard without entries has no group, and its schedule still answers.
        nothing = TimeToBreach((0,) * (len(EDGES) + 2), None, None if seen is None else 0)
        out[key] = _answer(merge_time_to_breach(parts.get(key, [])) or nothing, seen)
    return out


def _comparable(view: dict, expected: dict) -> dict:
    # The oracle lists every configured dashboard of a study with events by T; the engine
    # those whose study it has seen. Compare where either has pending entries or a schedule.
    keys = {k for k, v in expected.items() if sum(v["by_time_left"]) or v["schedule"]}
    keys |= {k for k, v in view.items() if sum(v["by_time_left"]) or v["schedule"]}
    return {k: view.get(k) for k in sorted(keys)}


@settings(max_examples=250, deadline=None)
@given(scenarios(), schedules, st.sampled_from([0, GRACE, HOUR]))
def test_at_risk_equals_brute_force(scenario, spec, grace):
    events, as_of = scenario
    engine = Engine(_config(spec, grace=grace))
    engine.apply_all(events)
    expected = _expected(events, spec, as_of, grace)
    assert _comparable(_replay_view(engine, as_of), expected) == _comparable(expected, expected)


@settings(max_examples=100, deadline=None)
@given(
    scenarios(),
    schedules,
    st.sampled_from([0, GRACE, HOUR]),
    st.booleans(),
    st.sampled_from([-1, 0, 1]),
)
def test_at_risk_equals_brute_force_at_a_due_slot_and_at_the_end_of_its_grace(
    scenario, spec, grace, at_grace_end, offset
):
    """As of T = due, due + grace and one microsecond either side, where a late slot's
    publish is behind and its miss turns: the due slot of the scenario's own T, by the oracle."""
    events, as_of = scenario
    seen = _expected(events, spec, as_of, grace).get(("S1", "default"), {}).get("schedule")
    if seen is not None:
        as_of = seen["due"] + (grace if at_grace_end else 0) + offset
    engine = Engine(_config(spec, grace=grace))
    engine.apply_all(events)
    expected = _expected(events, spec, as_of, grace)
    assert _comparable(_replay_view(engine, as_of), expected) == _comparable(expected, expected)


@settings(max_examples=150, deadline=None)
@given(scenarios(), schedules)
def test_live_groups_merged_equal_the_replay_as_of_the_engine_clock(scenario, spec):
    """Per breakdown group, summed, with the schedule from the merged history: the live
    figures; with a retention (the bounded publish history), as of the newest event time."""
    events, _ = scenario
    bounded, replay = Engine(_config(spec, retention_us=60 * DAY)), Engine(_config(spec))
    bounded.apply_all(events)
    replay.apply_all(events)
    if bounded.watermark_us is None:
        return
    clock = bounded.watermark_us
    live = _live_view([bounded], clock)
    assert _comparable(live, live) == _comparable(_replay_view(replay, clock), live)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(DST_DAYS)),
    st.sampled_from([d for days in DST_DAYS.values() for d in days]),
    st.integers(-2 * DAY, 3 * DAY),
    weekly_schedules,
)
def test_weekly_slots_equal_the_minute_by_minute_walk(_zone, day, offset, spec):
    schedule = _schedule_object(spec)
    start = _us(day) + offset
    walked = oracle.weekly_slots(spec[1], spec[2], spec[3], start, start + 9 * DAY)
    assert schedule.first_slot_from(start) == walked[0]


@settings(max_examples=200, deadline=None)
@given(interval_schedules, instants)
def test_interval_slots_equal_the_step_by_step_walk(spec, start):
    walked = oracle.interval_slots(spec[1], spec[2], start, start + 8 * DAY)
    assert IntervalSchedule(spec[1], spec[2]).first_slot_from(start) == walked[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(instants, max_size=60), st.data(), st.sampled_from([None, 1, 4, 32]))
def test_kept_publish_instants_do_not_depend_on_arrival_order(times, data, cap):
    """The newest `cap` distinct instants, whatever the order (what the state keeps)."""
    kept: list[int] = []
    for instant in data.draw(st.permutations(times)):
        note_publish_time(kept, instant, cap)
    distinct = sorted(set(times))
    assert kept == (distinct if cap is None else distinct[-cap:])


# -- boundaries, with equal instants --------------------------------------------------------


def _entry(event_id: str, entered: int, study: str = "S1") -> EntryEvent:
    return _valid(
        EntryEvent,
        {
            "schema": "edc.entry/1", "event_id": event_id, "study_id": study, "site_id": "s",
            "subject_id": "x", "form_id": "f", "record_id": event_id,
            "entered_at": format_timestamp(entered), "action": "create",
        },
    )  # fmt: skip


def test_a_deadline_equal_to_now_is_not_breached_and_one_microsecond_earlier_is():
    as_of = BASE + 10 * DAY
    engine = Engine(_config(None))
    engine.apply_all([_entry("at", as_of - SLA_S1), _entry("before", as_of - SLA_S1 - 1)])
    group = engine.studies["S1"].dashboards["default"].groups[("s",)]
    figures = time_to_breach([group], SLA_S1, as_of, EDGES)
    assert figures.by_time_left == (1, 1, 0, 0, 0)  # breached, then < 1 h (0 left)
    assert figures.earliest_deadline_us == as_of  # upcoming: deadline ≥ T


def test_time_left_equal_to_an_edge_falls_in_the_next_bucket():
    as_of = BASE + 10 * DAY
    engine = Engine(_config(None))
    engine.apply_all([
        _entry("h", as_of - SLA_S1 + HOUR), _entry("4h", as_of - SLA_S1 + 4 * HOUR),
        _entry("d", as_of, "S2"),  # SLA 24 h: a day left
    ])  # fmt: skip
    s1 = engine.studies["S1"].dashboards["default"].groups[("s",)]
    s2 = engine.studies["S2"].dashboards["default"].groups[("s",)]
    assert time_to_breach([s1], SLA_S1, as_of, EDGES).by_time_left == (0, 0, 1, 1, 0)
    assert time_to_breach([s2], DAY, as_of, EDGES).by_time_left == (0, 0, 0, 0, 1)


def test_a_certain_breach_is_a_deadline_before_the_next_publish_not_at_it():
    as_of = BASE + 10 * DAY
    engine = Engine(_config(None))
    deadline = as_of + 2 * HOUR
    engine.apply_all([_entry("e", deadline - SLA_S1)])
    group = engine.studies["S1"].dashboards["default"].groups[("s",)]
    at = time_to_breach([group], SLA_S1, as_of, EDGES, next_publish_us=deadline)
    after = time_to_breach([group], SLA_S1, as_of, EDGES, next_publish_us=deadline + 1)
    assert (at.certain_breaches, after.certain_breaches) == (0, 1)


def test_a_slot_is_missed_only_after_its_grace():
    schedule = IntervalSchedule(DAY, BASE)
    last = BASE  # published at its slot; the next is due at BASE + DAY
    on_time = outlook(schedule, last, BASE + DAY + GRACE, GRACE)
    late = outlook(schedule, last, BASE + DAY + GRACE + 1, GRACE)
    assert (on_time.missed, on_time.due_us) == (False, BASE + DAY)
    assert (late.missed, late.due_us) == (True, BASE + DAY)


def _late_slot_figures(as_of: int) -> tuple[int | None, int | None, bool]:
    """S1's default dashboard published daily at BASE + k·DAY, last at BASE, with three
    entries waiting whose deadlines fall 1 h, 4 h and 5 h after the slot at BASE + DAY
    (so all three before the slot after it): (certain breaches, next publish, missed) as
    of T, as the report reads them."""
    engine = Engine(_config(("interval", DAY, BASE)))
    due = BASE + DAY
    engine.apply_all([
        _valid(PublishEvent, {
            "schema": "dashboard.publish/1", "event_id": "p", "study_id": "S1",
            "dashboard": "default", "published_at": format_timestamp(BASE),
            "data_cutoff": format_timestamp(BASE),
        }),
        *(_entry(f"e{hours}", due + hours * HOUR - SLA_S1) for hours in (1, 4, 5)),
    ])  # fmt: skip
    risk = at_risk_from_parts(engine.config, [at_risk_parts(engine, as_of)], as_of)
    seen = risk["S1"]["default"]
    assert seen.outlook is not None
    return seen.time_to_breach.certain_breaches, seen.outlook.next_publish_us, seen.outlook.missed


def test_a_late_slot_counts_its_entries_against_the_following_slot_from_its_instant_on():
    """From T = due on, without its publish, the due slot is behind: the next expected
    publish is the following slot (never in the past), and what breaches before it is
    certain unless someone publishes (the late run or off-cycle)."""
    due, following = BASE + DAY, BASE + 2 * DAY
    assert _late_slot_figures(due - 1) == (0, due, False)  # every deadline is at or after due
    assert _late_slot_figures(due) == (3, following, False)
    assert _late_slot_figures(due + 1) == (3, following, False)


def test_the_certain_breaches_do_not_jump_when_the_late_slots_grace_runs_out():
    """The grace decides the miss only: at T = due + grace the slot is not missed yet, one
    microsecond later it is, and the certain breaches and the next publish stay as they were
    (none of the three deadlines passes in between)."""
    due, following = BASE + DAY, BASE + 2 * DAY
    assert _late_slot_figures(due + GRACE) == (3, following, False)
    assert _late_slot_figures(due + GRACE + 1) == (3, following, True)


def test_daily_0200_berlin_weekdays_across_the_spring_change_and_the_weekend():
    schedule = WeeklySchedule((time(2, 0),), "Europe/Berlin", (0, 1, 2, 3, 4))
    friday = _us("2024-03-29") + 1 * HOUR  # 02:00 CET = 01:00 UTC
    monday = _us("2024-04-01")  # 02:00 CEST = 00:00 UTC, after the change
    assert schedule.first_slot_from(friday) == friday
    assert schedule.first_slot_from(friday + 1) == monday  # Saturday and Sunday skipped


def test_a_time_skipped_by_the_change_happens_at_the_change():
    schedule = WeeklySchedule((time(2, 30),), "Europe/Berlin")
    change = _us("2024-03-31") + HOUR  # 03:00 CEST, when 02:00 CET jumped
    assert schedule.first_slot_from(change - 2 * HOUR) == change  # from 00:00 CET


def test_a_repeated_time_happens_at_its_first_occurrence():
    schedule = WeeklySchedule((time(1, 30),), "America/New_York")
    first = _us("2024-11-03") + 5 * HOUR + 30 * MINUTE  # 01:30 EDT = 05:30 UTC
    assert schedule.first_slot_from(first - HOUR) == first
    assert schedule.first_slot_from(first + 1) == _us("2024-11-04") + 6 * HOUR + 30 * MINUTE


def test_learned_cadence_takes_the_lower_median_of_run_starts():
    starts = [BASE, BASE + DAY, BASE + 2 * DAY + 2 * HOUR, BASE + 3 * DAY]
    parts = sorted([*starts, BASE + DAY + MIN_GAP, BASE + 3 * DAY + 1])  # parts of a run
    cadence = learned_cadence(parts, MIN_GAP)
    gaps = sorted([DAY, DAY + 2 * HOUR, DAY - 2 * HOUR])
    assert (cadence.every_us, cadence.anchor_us) == (gaps[1], BASE + 3 * DAY)
    assert learned_cadence(parts[:3], MIN_GAP) is None  # two gaps: not enough


def test_a_publish_on_its_slot_makes_the_following_slot_the_next_one():
    schedule = IntervalSchedule(DAY, BASE)
    seen = outlook(schedule, BASE + DAY, BASE + DAY, GRACE)
    assert (seen.next_publish_us, seen.due_us, seen.missed) == (
        BASE + 2 * DAY,
        BASE + 2 * DAY,
        False,
    )
