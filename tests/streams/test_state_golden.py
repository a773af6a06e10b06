"""The checkpoint layout is a declared format: a change without a version bump fails here.

After a deliberate change: bump ``STATE_VERSION`` in streams/state.py, then write the
new golden file with ``EDC_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/streams/test_state_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from schemas import EntryEvent, Rejection, parse_event
from streams import Engine, EngineConfig
from streams.state import STATE_VERSION
from tests.integration.workload import BASE_US, HOUR_US, workload

GOLDEN = Path(__file__).parent / "golden" / f"engine-state-v{STATE_VERSION}.json"
CONFIG = EngineConfig(
    retention_us=48 * HOUR_US, breakdown=("site", "country"), latency_bounds_s=(3600.0, 86400.0),
    query_bounds_s=(86400.0,), visit_bounds_s=(86400.0,),
)  # fmt: skip


def _engine() -> Engine:
    engine = Engine(CONFIG)
    engine.track_inputs()  # a shard's engine: its inputs' progress is part of the state
    for _kind, value in workload(seed=3, entries=60):
        event = parse_event(value)
        if not isinstance(event, Rejection):
            engine.apply(event)
    # Visit to entry (version 4): within, over the high threshold, and entered before the visit.
    for n, (visit_date, hours_later) in enumerate((("2026-01-01", 30), ("2025-12-20", 0),
                                                   ("2026-01-05", 0))):  # fmt: skip
        engine.apply(EntryEvent(
            event_id=f"visit-{n}", study_id="ONC-1", site_id="site-1", subject_id="x",
            form_id="f", record_id=f"visit-rec-{n}", entered_at=BASE_US + hours_later * HOUR_US,
            country="DE", visit_date=visit_date,
        ))  # fmt: skip
    engine.note_inputs([(0, 0, engine.watermark_us, False), (2, 1, None, True)], [1, 0, 2])
    return engine


def test_the_state_layout_matches_the_golden_file_of_its_version():
    state = orjson.loads(orjson.dumps(_engine().to_state()))
    if os.environ.get("EDC_WRITE_GOLDEN"):
        GOLDEN.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2) + b"\n")
    assert GOLDEN.exists(), f"no golden file for state version {STATE_VERSION}: see the docstring"
    assert state == orjson.loads(GOLDEN.read_bytes()), (
        "the engine state layout changed: bump STATE_VERSION and write a new golden file"
    )


def test_the_golden_state_restores_to_an_engine_that_answers_alike():
    restored = Engine.from_state(CONFIG, orjson.loads(GOLDEN.read_bytes()))
    original = _engine()
    as_of = original.watermark_us
    assert restored.snapshot(as_of) == original.snapshot(as_of)
