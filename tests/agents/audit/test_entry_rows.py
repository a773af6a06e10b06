"""entries.csv's two writers: rows joined as text for plain ids, csv.writer for any ids."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from agents.audit.replay.cells import all_plain
from agents.audit.replay.tables import EntryRows, _write_csv_rows, _write_plain_rows
from agents.settings import load_settings
from schemas import EntryEvent, Rejection, parse_event
from schemas.timestamps import parse_timestamp_us
from streams import ACCEPTED, Engine
from streams.scorecards import NEEDED_BREAKDOWN

ROOT = Path(__file__).resolve().parents[3]


def test_both_writers_give_the_same_bytes_on_the_sample():
    settings = load_settings(str(ROOT / "deploy/simulated-studies.toml"))
    engine = Engine(replace(settings.engine_config(retention=False), breakdown=NEEDED_BREAKDOWN))
    rows = EntryRows()
    for line in (ROOT / "agents/data/sample-events.jsonl").read_bytes().splitlines():
        event = parse_event(line)
        if isinstance(event, Rejection) or engine.apply(event) != ACCEPTED:
            continue
        if isinstance(event, EntryEvent):
            rows.add(event, engine.last_entry_seq, engine.last_entry_group)
    assert all_plain(rows.event_ids) and all_plain(rows.record_ids)
    as_of = parse_timestamp_us("2026-01-09T00:00:00Z")
    plain, through_csv = io.StringIO(), io.StringIO()
    counts = _write_plain_rows(rows, engine, as_of, plain)
    assert counts == _write_csv_rows(rows, engine, as_of, through_csv)
    assert plain.getvalue() == through_csv.getvalue() and sum(counts) > 1000


@pytest.mark.parametrize(
    "texts",
    [["a", "b,c"], ['x"y'], ["a\nb"], ["a", "b\rc"], ["=1"], ["ok", "+1"], ["ok", "-x"],
     ["@a"], ["\tx"]],
)  # fmt: skip
def test_ids_that_csv_quotes_or_cells_prefix_are_not_plain(texts):
    assert not all_plain(texts)


def test_plain_ids_are_plain():
    assert all_plain([]) and all_plain(["e-1", "rec 2", "", "x=y", "a-b"])
