"""The small rules of issue 22's and 23's modules, each at its edge.

What the live metrics and the replay read of them (bucket labels, owner sides, the
router's stage refusal, a schedule refused at configuration) and the merges of parts,
checked directly: the property tests reach these only through the agents, or not at
their boundaries.
"""

from __future__ import annotations

from datetime import time

import pytest

from schemas import StageEvent
from streams import EngineConfig, StudyConfig
from streams.config import StageConfig
from streams.deadlines import TimeToBreach, merge_time_to_breach, time_left_bucket_names
from streams.schedules import IntervalSchedule, LearnedCadence, WeeklySchedule, outlook
from streams.stages import UNKNOWN_STAGE_REASON, owner_kind, stage_problem
from tests.streams.strategies import BASE, DAY, HOUR, MINUTE, _valid

SECOND = 1_000_000


# -- time to breach: labels and merges ----------------------------------------------------


def test_time_left_buckets_are_named_by_their_edge_in_the_largest_whole_unit():
    assert time_left_bucket_names((HOUR, 4 * HOUR, 24 * HOUR)) == (
        "breached", "lt_1h", "lt_4h", "lt_24h", "later",
    )  # fmt: skip
    assert time_left_bucket_names((90 * MINUTE, 30 * SECOND, 1_500)) == (
        "breached", "lt_90m", "lt_30s", "lt_1500us", "later",
    )  # fmt: skip
    assert time_left_bucket_names((MINUTE + SECOND, SECOND + 1)) == (
        "breached", "lt_61s", "lt_1000001us", "later",
    )  # fmt: skip
    assert time_left_bucket_names(()) == ("breached", "later")


def test_merged_parts_add_their_counts_and_keep_the_earliest_deadline():
    a = TimeToBreach((1, 0, 2), BASE + DAY, None, None)
    b = TimeToBreach((0, 3, 1), BASE + HOUR, 2, BASE + 5 * HOUR)
    c = TimeToBreach((1, 1, 1), None, 1, BASE + 5 * HOUR)
    assert merge_time_to_breach([]) is None
    assert merge_time_to_breach([a]) == a
    assert merge_time_to_breach([a, b, c]) == TimeToBreach(
        (2, 4, 4), BASE + HOUR, 3, BASE + 5 * HOUR
    )
    assert merge_time_to_breach([c, a]) == TimeToBreach((2, 1, 3), BASE + DAY, 1, BASE + 5 * HOUR)
    # An equal deadline in both: that one; a later one never replaces it.
    later = TimeToBreach((0, 0, 0), BASE + DAY + 1, 0, None)
    same = TimeToBreach((0, 0, 0), BASE + DAY, 0, None)
    assert merge_time_to_breach([a, later]).earliest_deadline_us == BASE + DAY  # type: ignore[union-attr]
    assert merge_time_to_breach([a, same]).earliest_deadline_us == BASE + DAY  # type: ignore[union-attr]
    assert merge_time_to_breach([a, later]).certain_breaches == 0  # type: ignore[union-attr]
    assert merge_time_to_breach([a, a]).certain_breaches is None  # type: ignore[union-attr]
    assert merge_time_to_breach([a, a]).pending == 6  # type: ignore[union-attr]


# -- schedules: what a configuration may say ----------------------------------------------


def test_a_publish_interval_must_be_positive():
    with pytest.raises(ValueError, match=r"^a publish interval must be positive$"):
        IntervalSchedule(0)
    with pytest.raises(ValueError, match=r"^a publish interval must be positive$"):
        IntervalSchedule(-HOUR)
    assert IntervalSchedule(1).first_slot_from(BASE + 1) == BASE + 1  # one µs: every instant


def test_a_weekly_schedule_needs_a_time_a_weekday_and_a_known_zone():
    refusal = "^a weekly schedule needs at least one time and one weekday$"
    with pytest.raises(ValueError, match=refusal):
        WeeklySchedule((), "UTC")
    with pytest.raises(ValueError, match=refusal):
        WeeklySchedule((time(2, 0),), "UTC", ())
    for day in (-1, 7):
        with pytest.raises(ValueError, match=r"^weekdays are 0 \(Monday\) to 6 \(Sunday\)$"):
            WeeklySchedule((time(2, 0),), "UTC", (0, day))
    with pytest.raises(Exception, match="Nowhere/Never"):
        WeeklySchedule((time(2, 0),), "Nowhere/Never")
    # Monday and Sunday themselves are weekdays (2024-01-01 is a Monday).
    assert WeeklySchedule((time(2, 0),), "UTC", (0,)).first_slot_from(BASE) == BASE + 2 * HOUR
    sunday = WeeklySchedule((time(2, 0),), "UTC", (6,))
    assert sunday.first_slot_from(BASE) == BASE + 6 * DAY + 2 * HOUR


def test_a_weekly_slot_a_week_ahead_is_found():
    # From just after Monday's only slot, the next one is seven days later (the search
    # reaches past a whole week).
    monday = WeeklySchedule((time(2, 0),), "UTC", (0,))
    assert monday.first_slot_from(BASE + 2 * HOUR + 1) == BASE + 7 * DAY + 2 * HOUR
    # A slot of yesterday's local date that lies ahead in UTC: 23:30 in New York on Sunday
    # is 04:30 UTC on Monday.
    late_sunday = WeeklySchedule((time(23, 30),), "America/New_York", (6,))
    assert late_sunday.first_slot_from(BASE + 4 * HOUR) == BASE + 4 * HOUR + 30 * MINUTE


def test_a_learned_cadence_expects_its_first_slot_one_period_after_its_anchor():
    cadence = LearnedCadence(DAY, BASE)
    assert cadence.first_slot_from(BASE - HOUR) == BASE + DAY
    assert cadence.first_slot_from(BASE) == BASE + DAY  # the anchor itself is no slot
    assert cadence.first_slot_from(BASE + 1) == BASE + DAY
    assert cadence.first_slot_from(BASE + DAY + 1) == BASE + 2 * DAY
    seen = outlook(cadence, BASE, BASE + HOUR, 0)
    assert (seen.due_us, seen.next_publish_us, seen.learned) == (BASE + DAY, BASE + DAY, True)
    assert outlook(IntervalSchedule(DAY), BASE, BASE + HOUR, 0).learned is False


def test_with_no_grace_a_slot_is_missed_one_microsecond_after_it():
    schedule = IntervalSchedule(DAY, BASE)
    assert outlook(schedule, BASE, BASE + DAY, 0).missed is False
    assert outlook(schedule, BASE, BASE + DAY + 1, 0).missed is True
    # Published exactly on the due slot: the following slot is due, nothing missed.
    on_slot = outlook(schedule, BASE + DAY, BASE + DAY + 1, 0)
    assert (on_slot.due_us, on_slot.missed) == (BASE + 2 * DAY, False)


# -- stages: owners and the router's refusal ----------------------------------------------


def test_an_owner_is_the_site_the_sponsor_or_an_fsp():
    assert [owner_kind(o) for o in ("site", "sponsor", "FSP-A", "Site", "")] == [
        "site", "sponsor", "fsp", "fsp", "fsp",
    ]  # fmt: skip


# Study S has three stages on its default dashboard; every other study (the default
# study's configuration) has none.
STAGED = EngineConfig(
    default_study=StudyConfig(sla_us=DAY, dashboards=("default", "ops")),
    studies={
        "S": StudyConfig(
            sla_us=DAY,
            dashboards=("default", "ops"),
            stages={"default": (StageConfig("extract", "site"), StageConfig("transform", "FSP"),
                                StageConfig("load", "sponsor"))},
        )
    },
)  # fmt: skip


def _stage(stage: str, dashboard: str = "default", study: str = "S") -> StageEvent:
    return _valid(StageEvent, {
        "schema": "pipeline.stage/1", "event_id": "s", "study_id": study, "stage": stage,
        "completed_at": "2024-01-01T00:00:00Z", "record_ids": ["r"], "dashboard": dashboard,
    })  # fmt: skip


def test_a_stage_event_is_refused_unless_it_names_a_stage_before_the_publish():
    assert stage_problem(STAGED, _stage("extract")) is None
    assert stage_problem(STAGED, _stage("transform")) is None
    assert stage_problem(STAGED, _stage("extract", study="other")) == UNKNOWN_STAGE_REASON
    assert stage_problem(STAGED, _stage("load")) == UNKNOWN_STAGE_REASON  # the publish's
    assert stage_problem(STAGED, _stage("other")) == UNKNOWN_STAGE_REASON
    assert stage_problem(STAGED, _stage("extract", "ops")) == UNKNOWN_STAGE_REASON  # no stages
    assert UNKNOWN_STAGE_REASON == (
        "pipeline.stage/1: stage: not a stage of the dashboard's pipeline before its publish"
    )


# -- the schedule before any publish, read as the live collector reads it -----------------


def test_before_any_publish_the_first_slot_after_the_first_entry_is_due():
    from streams import Engine
    from streams.at_risk import outlooks, publish_histories
    from tests.streams.test_at_risk import _config, _entry

    engine = Engine(_config(("interval", DAY, BASE)))  # S1's default: daily at 00:00 UTC
    engine.apply_all([_entry("late", BASE + 2 * DAY + HOUR), _entry("first", BASE + DAY + HOUR)])
    seen = outlooks(engine.config, publish_histories([engine]), BASE + 2 * DAY + 2 * HOUR)
    due = seen[("S1", "default")]
    assert due is not None and (due.due_us, due.missed) == (BASE + 2 * DAY, True)
    assert seen[("S1", "ops")] is None  # no schedule, nothing published to learn one from
    before = outlooks(engine.config, publish_histories([engine]), BASE + DAY + HOUR - 1)
    assert before[("S1", "default")] is None  # nothing entered by T: nothing expected yet
    at = outlooks(engine.config, publish_histories([engine]), BASE + DAY + HOUR)
    assert at[("S1", "default")] is not None  # the first entry at T: its slot is expected
    assert (at[("S1", "default")].due_us, at[("S1", "default")].missed) == (BASE + 2 * DAY, False)


# -- a snapshot's parts: studies not seen by T are left out, the others kept ---------------


def test_a_study_first_seen_after_t_is_left_out_and_the_studies_after_it_are_kept():
    from streams import Engine
    from streams.parts import merge_snapshots, snapshot_parts
    from tests.streams.shapes import snapshot_dict
    from tests.streams.test_at_risk import _config, _entry

    engine = Engine(_config(None))
    engine.apply_all([_entry("later", BASE + DAY, "S1"), _entry("early", BASE, "S2")])
    parts, orphans = snapshot_parts(engine, BASE + HOUR)
    assert (sorted(parts), orphans) == (["S2"], 0)
    assert snapshot_dict(merge_snapshots(BASE + HOUR, [(parts, orphans)])) == snapshot_dict(
        engine.snapshot(BASE + HOUR)
    )


def test_a_stage_event_of_a_stage_before_the_publish_is_accepted_and_counts_nothing_unknown():
    from streams import ACCEPTED, UNKNOWN_STAGE, Engine

    engine = Engine(STAGED)
    assert engine.apply(_stage("extract")) == ACCEPTED
    assert engine.counters.unknown_stage == 0
    assert engine.apply(_valid(StageEvent, {
        "schema": "pipeline.stage/1", "event_id": "s2", "study_id": "S", "stage": "load",
        "completed_at": "2024-01-01T00:00:00Z", "record_ids": ["r"], "dashboard": "default",
    })) == UNKNOWN_STAGE  # fmt: skip
    assert engine.counters.unknown_stage == 1
