"""A restored engine carries on exactly like the original through what the drawn examples
seldom hold at once: live bounds on publish instants (dashboards and stage ledgers), folded
freshness, open queries answered and closed, a record with two entries, a record known only
by its publish, entries before 1970, the inputs' progress; and a state written with other
pipeline stages is refused."""

from __future__ import annotations

import orjson
import pytest

from schemas.timestamps import format_timestamp, parse_timestamp_us
from streams import Engine, EngineConfig, StudyConfig
from streams.config import StageConfig
from streams.state import StateError
from tests.streams.shapes import snapshot_dict
from tests.streams.test_state_refusals import CONFIG, STAGES, _covering, _engine, _entry, _query

HOUR = 3_600_000_000
DAY = 24 * HOUR


def _publish(n: int, at: int, records: list[str], schema: str = "dashboard.publish/1",
             **fields: object) -> object:  # fmt: skip
    from tests.streams.test_state_refusals import _event

    time_field = "completed_at" if "stage" in fields else "published_at"
    return _event({
        "schema": schema, "event_id": f"x{n}", "study_id": "S", time_field: format_timestamp(at),
        "record_ids": records, "dashboard": "default", **fields,
    })  # fmt: skip


def _restored(engine: Engine) -> Engine:
    state = orjson.loads(orjson.dumps(engine.to_state()))
    copy = Engine.from_state(CONFIG, state)
    assert copy.to_state() == state
    return copy


def test_a_restored_live_engine_carries_on_like_the_original():
    original = _engine()
    start = parse_timestamp_us("2026-01-06T00:00:00Z")
    # Folded freshness: compacted at a clock a day on, with a one-hour window.
    for study in original.studies.values():
        for ledger in study.dashboards.values():
            ledger.freshness.compact(start, HOUR)
    _restored(original)
    later = [
        _query(4, "Q1", "a", "answered", "2026-01-05T07:00:00Z"),
        _query(5, "Q2", "b", "closed", "2026-01-05T08:00:00Z"),
        _entry(20, "2026-01-05T09:00:00Z", "a", "2026-01-05"),
    ]
    from tests.streams.test_state_refusals import _event

    twin = _event({  # the same record r30, a second entry
        "schema": "edc.entry/1", "event_id": "e30b", "study_id": "S", "site_id": "a",
        "subject_id": "x", "form_id": "f", "record_id": "r30",
        "entered_at": "2026-01-05T11:00:00Z",
    })  # fmt: skip
    # Held when the state is written: a record with two entries (published after the
    # restore), a record known only by its publish (its entry, entered before it, arrives
    # after).
    before = [_entry(30, "2026-01-05T10:00:00Z", "a"), twin, _publish(31, start, ["r40"])]
    for event in before:
        original.apply(event)  # type: ignore[arg-type]
    copy = _restored(original)
    later += [_publish(32, start + HOUR, ["r30"]), _entry(40, "2026-01-05T12:00:00Z", "a")]
    # More publish instants than a live ledger keeps (dashboards and the stage ledger).
    for n in range(40):
        later.append(_publish(100 + n, start + (2 + n) * HOUR, ["r1"]))
        later.append(_covering("pipeline.stage/1", 200 + n, format_timestamp(start + n * HOUR),
                               stage="transform"))  # fmt: skip
    for event in later:
        assert copy.apply(event) == original.apply(event)  # type: ignore[arg-type]
    assert copy.to_state() == original.to_state()
    for as_of in (start, start + 50 * HOUR):
        assert snapshot_dict(copy.snapshot(as_of)) == snapshot_dict(original.snapshot(as_of))
    (dashboard,) = original.to_state()["studies"][0][3]
    assert len(dashboard[8]) == 32  # the newest publish instants only (live)


def test_the_inputs_progress_is_restored():
    original = _engine()
    original.track_inputs()
    original.note_inputs([(0, 0, 5, False), (0, 1, None, True), (1, 0, 7, False)], [2, 1])
    copy = _restored(original)
    assert copy.inputs is not None and copy.deadline_clock() == original.deadline_clock()


def test_a_state_written_with_other_pipeline_stages_is_refused():
    state = orjson.loads(orjson.dumps(_engine().to_state()))
    other = EngineConfig(
        default_study=StudyConfig(
            sla_us=DAY, dashboards=("default",),
            stages={"default": (StageConfig("extract", "site"), *STAGES)},
        ),
        breakdown=("site",),
        retention_us=30 * DAY,
    )  # fmt: skip
    with pytest.raises(StateError, match=r"^written with other pipeline stages$"):
        Engine.from_state(other, state)
