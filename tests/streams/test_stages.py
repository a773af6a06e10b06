"""Pipeline stages (streams/stages.py): durations add up to the latency, figures equal the
naive restatement (stage_oracle.py), breaches go to the right stage and owner."""

from __future__ import annotations

from dataclasses import asdict

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, Event, PublishEvent, StageEvent
from streams import UNKNOWN_STAGE, Engine, EngineConfig, StudyConfig
from streams.config import StageConfig
from streams.stages import charged_stage, stage_durations
from tests.streams import stage_oracle
from tests.streams.shapes import snapshot_dict
from tests.streams.strategies import (
    BASE,
    DAY,
    HOUR,
    _ts,
    _valid,
    entries,
    event_ids,
    publishes,
    records,
    studies,
)
from tests.streams.strategies import instants as contract_instants

# S1's default dashboard has three stages (the publish completes "load"); its "ops" has
# none; S2 (the default study) has two on its default dashboard.
S1_STAGES = (
    StageConfig("extract", "site"),
    StageConfig("transform", "FSP-A", budget_us=2 * HOUR),
    StageConfig("load", "sponsor"),
)
S2_STAGES = (StageConfig("transform", "FSP-B"), StageConfig("load", "sponsor"))
SLAS = {"S1": 6 * HOUR, "S2": DAY}
ORACLE_STAGES = {
    ("S1", "default"): tuple((s.name, s.owner) for s in S1_STAGES),
    ("S2", "default"): tuple((s.name, s.owner) for s in S2_STAGES),
}


def staged_config(stages: bool = True, **options: object) -> EngineConfig:
    return EngineConfig(
        default_study=StudyConfig(
            sla_us=DAY, dashboards=("default",), stages={"default": S2_STAGES} if stages else {}
        ),
        studies={
            "S1": StudyConfig(
                sla_us=6 * HOUR,
                dashboards=("default", "ops"),
                stages={"default": S1_STAGES} if stages else {},
            )
        },
        **options,  # type: ignore[arg-type]
    )


# Two days on a coarse grid (whole hours and quarter hours, one microsecond either side of
# some): entries, stage completions, publishes and T coincide often, durations tie, and
# latencies land on the 6 h SLA and either side of it.
QUARTER = HOUR // 4
stage_instants = (
    st.builds(lambda q: BASE + q * QUARTER, st.integers(0, 8 * 24))
    | st.builds(lambda h, side: BASE + h * HOUR + side, st.integers(0, 48), st.sampled_from([-1, 1]))
)


@st.composite
def staged_entries(draw: st.DrawFn) -> EntryEvent:
    return _valid(EntryEvent, {
        "schema": "edc.entry/1", "event_id": draw(event_ids), "study_id": draw(studies),
        "site_id": "site-1", "subject_id": "subj", "form_id": "form",
        "record_id": draw(records), "entered_at": _ts(draw(stage_instants)),
        "vendor": draw(st.sampled_from(["V1", "V2", None])),
    })  # fmt: skip


def _coverage(draw: st.DrawFn, doc: dict[str, object], at: int) -> None:
    if draw(st.booleans()):
        back = draw(st.sampled_from([0, 1, QUARTER, HOUR, 6 * HOUR, DAY]))
        doc["data_cutoff"] = _ts(at - back)
    else:
        doc["record_ids"] = draw(st.lists(records, min_size=1, max_size=3))


@st.composite
def staged_publishes(draw: st.DrawFn) -> PublishEvent:
    at = draw(stage_instants)
    doc: dict[str, object] = {
        "schema": "dashboard.publish/1", "event_id": draw(event_ids), "study_id": draw(studies),
        "published_at": _ts(at), "dashboard": draw(st.sampled_from(["default", "default", "ops"])),
    }  # fmt: skip
    _coverage(draw, doc, at)
    return _valid(PublishEvent, doc)


@st.composite
def stage_events(draw: st.DrawFn) -> StageEvent:
    at = draw(stage_instants)
    doc: dict[str, object] = {
        "schema": "pipeline.stage/1",
        "event_id": draw(event_ids),
        "study_id": draw(studies),
        "stage": draw(st.sampled_from(["extract", "transform", "transform", "load", "other"])),
        "completed_at": _ts(at),
        "dashboard": draw(st.sampled_from(["default", "default", "default", "ops"])),
    }
    _coverage(draw, doc, at)
    return _valid(StageEvent, doc)


# Stage events twice as often as the others, and lists long enough (hypothesis favours
# short ones) that most entries meet some of their stages before their publish.
_staged_event = st.one_of(
    staged_entries(), staged_publishes(), stage_events(), stage_events(), entries(), publishes()
)
staged_arrivals = st.lists(_staged_event, max_size=50) | st.lists(
    _staged_event, min_size=20, max_size=60
)
instants = stage_instants | contract_instants


def figures_dict(engine: Engine, as_of: int) -> dict[str, dict[str, dict[str, object]]]:
    out: dict[str, dict[str, dict[str, object]]] = {}
    for study, dashboards in engine.pipeline_figures(as_of).items():
        for dashboard, figures in dashboards.items():
            plain = asdict(figures)
            plain["stages"] = list(plain["stages"])
            for stage in plain["stages"]:
                del stage["budget_us"]
            out.setdefault(study, {})[dashboard] = plain
    return out


def vendor_of(entry: EntryEvent) -> tuple[str, ...]:
    return (entry.vendor or "",)


@settings(max_examples=300, deadline=None)
@given(staged_arrivals, instants, st.sampled_from([(), ("vendor",)]))
def test_stage_figures_equal_the_oracle(events, as_of, breakdown):
    engine = Engine(staged_config(retention_us=None, breakdown=breakdown))
    engine.apply_all(events)
    expected = stage_oracle.pipelines(
        events, ORACLE_STAGES, SLAS, as_of, vendor_of if breakdown else lambda _e: ()
    )
    assert figures_dict(engine, as_of) == expected


@settings(max_examples=300, deadline=None)
@given(staged_arrivals, st.data())
def test_stage_durations_add_up_to_the_latency_of_every_entry(events, data):
    """Any arrival order, missing stages, snapshot and record stages: for every entry
    published as of T, its stage durations are ≥ 0 and add up to its latency exactly."""
    unique = stage_oracle.dedupe(events)
    shuffled = data.draw(st.permutations(unique))
    as_of = data.draw(instants)
    engine = Engine(staged_config(retention_us=None))
    engine.apply_all(shuffled)
    for study_id, study in engine.studies.items():
        for name, pipeline in study.pipelines.items():
            for group in study.dashboards[name].groups.values():
                for published in group.published.values():
                    for key, published_us in published.items():
                        entered = key >> 96
                        if published_us > as_of or entered > as_of:
                            continue
                        parts = stage_durations(
                            entered, published_us, pipeline.completions(key), as_of
                        )
                        assert len(parts) == len(pipeline.stages), study_id
                        assert all(part >= 0 for part in parts)
                        assert sum(parts) == published_us - entered
    # And the order of arrival changes no stage figure.
    in_order = Engine(staged_config(retention_us=None))
    in_order.apply_all(unique)
    assert figures_dict(engine, as_of) == figures_dict(in_order, as_of)


@settings(max_examples=150, deadline=None)
@given(staged_arrivals, instants)
def test_producers_without_stage_events_see_no_change(events, as_of):
    """Stages configured or not, stage events sent or not: every existing figure is the same."""
    plain = [e for e in events if not isinstance(e, StageEvent)]
    without = Engine(staged_config(stages=False, retention_us=None))
    without.apply_all(plain)
    configured = Engine(staged_config(retention_us=None))
    configured.apply_all(plain)
    assert snapshot_dict(configured.snapshot(as_of)) == snapshot_dict(without.snapshot(as_of))
    fed = Engine(staged_config(retention_us=None))
    fed.apply_all(events)  # with the stage events: the same figures (apart from the stages)
    expected = Engine(staged_config(stages=False, retention_us=None))
    expected.apply_all(events)  # where they are unknown stages
    assert snapshot_dict(fed.snapshot(as_of)) == snapshot_dict(expected.snapshot(as_of))


@settings(max_examples=100, deadline=None)
@given(staged_arrivals)
def test_pruning_keeps_completions_only_of_entries_the_dashboard_keeps(events):
    engine = Engine(staged_config(retention_us=DAY))
    engine.apply_all(sorted(events, key=lambda e: e.time_us))
    for study in engine.studies.values():
        for name, pipeline in study.pipelines.items():
            kept = set()
            for group in study.dashboards[name].groups.values():
                kept |= set(group.pending) | set(group.published)
            horizon = engine.horizon_base_us() - DAY  # type: ignore[operator]
            for ledger in pipeline.ledgers:
                for group in ledger.group_list:
                    for hour in [*group.pending, *group.published]:
                        assert hour in kept or (hour + 1) * HOUR > horizon


def _entry(event_id: str, record: str, at: int, vendor: str | None = None) -> EntryEvent:
    return EntryEvent(event_id=event_id, study_id="S1", site_id="s", subject_id="x",
                      form_id="f", record_id=record, entered_at=at, vendor=vendor)  # fmt: skip


def _stage(event_id: str, stage: str, at: int, record: str | None = None) -> StageEvent:
    if record is None:
        return StageEvent(event_id=event_id, study_id="S1", stage=stage, completed_at=at,
                          data_cutoff=at)  # fmt: skip
    return StageEvent(event_id=event_id, study_id="S1", stage=stage, completed_at=at,
                      record_ids=[record])  # fmt: skip


def _publish(event_id: str, record: str, at: int) -> PublishEvent:
    return PublishEvent(event_id=event_id, study_id="S1", published_at=at, record_ids=[record])


def _run(events: list[Event], as_of: int) -> Engine:
    engine = Engine(staged_config(retention_us=None))
    engine.apply_all(events)
    return engine


def test_a_tie_charges_the_earliest_of_the_tied_stages():
    assert charged_stage([1, 3, 3]) == 1
    assert charged_stage([3, 3, 1]) == 0
    assert charged_stage([2, 2, 3]) == 2
    # extract 3 h, transform 3 h (tied), load 1 h: a 7 h latency over the 6 h SLA.
    engine = _run(
        [_entry("e", "r", BASE), _stage("x", "extract", BASE + 3 * HOUR),
         _stage("t", "transform", BASE + 6 * HOUR), _publish("p", "r", BASE + 7 * HOUR)],
        BASE + 7 * HOUR,
    )  # fmt: skip
    figures = engine.pipeline_figures(BASE + 7 * HOUR)["S1"]["default"]
    assert [s.breaches_charged for s in figures.stages] == [1, 0, 0]
    assert figures.breaches_by_owner == {"site": 1, "FSP-A": 0, "sponsor": 0}


def test_a_latency_equal_to_the_sla_is_no_breach_and_one_microsecond_more_is():
    at_sla = _run([_entry("e", "r", BASE), _publish("p", "r", BASE + 6 * HOUR)], 0)
    assert at_sla.pipeline_figures(BASE + DAY)["S1"]["default"].breaches == 0
    over = _run([_entry("e", "r", BASE), _publish("p", "r", BASE + 6 * HOUR + 1)], 0)
    figures = over.pipeline_figures(BASE + DAY)["S1"]["default"]
    # No stage reported: the publish's stage took it all.
    assert [s.breaches_charged for s in figures.stages] == [0, 0, 1]


def test_out_of_order_and_late_stage_events_are_clamped():
    """Transform reported before extract; extract after the publish: no negative duration."""
    events: list[Event] = [
        _entry("e", "r", BASE),
        _stage("t", "transform", BASE + 2 * HOUR, "r"),
        _stage("x", "extract", BASE + 3 * HOUR),
        _publish("p", "r", BASE + 4 * HOUR),
    ]
    figures = _run(events, 0).pipeline_figures(BASE + DAY)["S1"]["default"]
    # extract completes at 3 h; transform's 2 h is clamped up to 3 h; load 3 h → 4 h.
    assert [s.sum_us for s in figures.stages] == [3 * HOUR, 0, HOUR]
    late = _run([*events[:2], _stage("x", "extract", BASE + 5 * HOUR), events[3]], 0)
    parts = late.pipeline_figures(BASE + DAY)["S1"]["default"]
    assert [s.sum_us for s in parts.stages] == [4 * HOUR, 0, 0]  # clamped to the publish


def test_a_stage_completed_at_t_counts_as_of_t_and_not_a_microsecond_before():
    events: list[Event] = [_entry("e", "r", BASE), _stage("x", "extract", BASE + HOUR)]
    engine = _run(events, 0)
    before = engine.pipeline_figures(BASE + HOUR - 1)["S1"]["default"]
    at = engine.pipeline_figures(BASE + HOUR)["S1"]["default"]
    assert [s.pending for s in before.stages] == [1, 0, 0]
    assert [s.pending for s in at.stages] == [0, 1, 0]


def test_unknown_stages_and_the_publish_stage_are_refused():
    engine = Engine(staged_config(retention_us=None))
    assert engine.apply(_stage("a", "nope", BASE)) == UNKNOWN_STAGE
    assert engine.apply(_stage("b", "load", BASE)) == UNKNOWN_STAGE  # the publish completes it
    ops = StageEvent(event_id="c", study_id="S1", stage="extract", completed_at=BASE,
                     data_cutoff=BASE, dashboard="ops")  # fmt: skip
    assert engine.apply(ops) == UNKNOWN_STAGE
    assert engine.counters.unknown_stage == 3


@settings(max_examples=100, deadline=None)
@given(staged_arrivals, staged_arrivals, instants)
def test_a_restored_engine_goes_on_with_the_same_stage_figures(before, after, as_of):
    import orjson

    from streams.state import StateError

    config = staged_config(retention_us=DAY)
    engine = Engine(config)
    engine.apply_all(before)
    restored = Engine.from_state(config, orjson.loads(orjson.dumps(engine.to_state())))
    engine.apply_all(after)
    restored.apply_all(after)
    assert figures_dict(restored, as_of) == figures_dict(engine, as_of)
    assert restored.counters == engine.counters
    if engine.studies:  # a state of other stages is refused: the shard is rebuilt
        other = staged_config(stages=False, retention_us=DAY)
        try:
            Engine.from_state(other, orjson.loads(orjson.dumps(engine.to_state())))
        except StateError as error:
            assert "pipeline stages" in str(error)
        else:
            assert not any(study.pipelines for study in engine.studies.values())


@given(st.integers(-(2**62), 2**62), st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
def test_a_stage_ledger_key_is_the_entry_key_without_its_group(entered, seq, group):
    """``completions_of`` clears the group bits of a dashboard's key in one step: the key
    the stage ledgers file the same entry under (one group, index 0)."""
    from streams.latency import SEQ_SHIFT, arrival, entered_at, entry_key

    key = entry_key(entered, seq, group)
    assert key >> SEQ_SHIFT << SEQ_SHIFT == entry_key(entered_at(key), arrival(key), 0)
