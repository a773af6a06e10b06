"""entries.csv's rows, joined as text: hostile ids and dimensions come out as csv.writer and
cells.py write them, to the byte."""

from __future__ import annotations

import csv
import io
from array import array
from dataclasses import replace
from functools import cache
from itertools import accumulate
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit.replay.cells import all_plain, safe_cell
from agents.audit.replay.tables import EntryRows, write_entry_rows
from agents.settings import load_settings
from schemas import EntryEvent, PublishEvent, Rejection, parse_event
from schemas.timestamps import parse_timestamp_us
from streams import ACCEPTED, Engine
from streams.scorecards import NEEDED_BREAKDOWN

ROOT = Path(__file__).resolve().parents[3]
AS_OF = parse_timestamp_us("2026-01-09T00:00:00Z")


@cache
def _sample_events() -> tuple[EntryEvent | PublishEvent, ...]:
    events = []
    for line in (ROOT / "agents/data/sample-events.jsonl").read_bytes().splitlines():
        event = parse_event(line)
        if not isinstance(event, Rejection):
            events.append(event)
    return tuple(events)


def _text_of(events, ends: array[int] | None = None) -> tuple[str, list[int]]:  # type: ignore[no-untyped-def]
    settings_ = load_settings(str(ROOT / "deploy/simulated-studies.toml"))
    engine = Engine(replace(settings_.engine_config(retention=False), breakdown=NEEDED_BREAKDOWN))
    rows = EntryRows()
    for event in events:
        if engine.apply(event) == ACCEPTED and isinstance(event, EntryEvent):
            rows.add(event, engine.last_entry_seq, engine.last_entry_group)
    out = io.StringIO()
    counts = write_entry_rows(rows, engine, AS_OF, out, ends)
    return out.getvalue(), counts


def _rows_of(events) -> tuple[list[list[str]], list[int]]:  # type: ignore[no-untyped-def]
    text, counts = _text_of(events)
    return list(csv.reader(io.StringIO(text))), counts


def _renamed(event, prefix: str):  # type: ignore[no-untyped-def]
    """The event with every event id and record id behind ``prefix`` (still unique)."""
    if isinstance(event, EntryEvent):
        return msgspec.structs.replace(
            event, event_id=prefix + event.event_id, record_id=prefix + event.record_id
        )
    if isinstance(event, PublishEvent) and event.record_ids is not None:
        return msgspec.structs.replace(event, record_ids=[prefix + r for r in event.record_ids])
    return event


@settings(max_examples=25, deadline=None)
@given(prefix=st.text(alphabet=",\"\r\n=+-@\t ab'", min_size=1, max_size=6))
def test_hostile_ids_read_back_as_their_safe_cells_and_nothing_else_moves(prefix):
    plain_rows, plain_counts = _rows_of(_sample_events())
    hostile_rows, hostile_counts = _rows_of(_renamed(e, prefix) for e in _sample_events())
    assert hostile_counts == plain_counts and sum(plain_counts) > 1000
    assert len(hostile_rows) == len(plain_rows)
    for plain, hostile in zip(plain_rows, hostile_rows, strict=True):
        # event id is the first cell, record id the eighth (ENTRIES_HEADER)
        expected = list(plain)
        expected[0] = safe_cell(prefix + plain[0])
        expected[7] = safe_cell(prefix + plain[7])
        assert hostile == expected


# entries.csv's columns taken from an entry event's own fields (ENTRIES_HEADER)
EVENT_COLUMNS = {"event_id": 0, "site_id": 3, "vendor": 5, "form_id": 6, "record_id": 7}


def _dimensions_renamed(event, prefixes: dict[str, str]):  # type: ignore[no-untyped-def]
    """The event with ids, site, vendor and form behind their prefixes (a renaming: still
    unique, the same groups), and the record ids its publishes name."""
    if isinstance(event, EntryEvent):
        return msgspec.structs.replace(event, **{
            field: prefixes[field] + (getattr(event, field) or "") for field in EVENT_COLUMNS
        })  # fmt: skip
    if isinstance(event, PublishEvent) and event.record_ids is not None:
        prefix = prefixes["record_id"]
        return msgspec.structs.replace(event, record_ids=[prefix + r for r in event.record_ids])
    return event


@settings(max_examples=25, deadline=None)
@given(prefixes=st.fixed_dictionaries({
    field: st.text(alphabet=',"\r\n=+-@\t ;:|\'aé中\u2028😀', max_size=5) for field in EVENT_COLUMNS
}))  # fmt: skip
def test_hostile_ids_and_dimensions_are_written_as_csv_writer_writes_their_safe_cells(prefixes):
    plain_rows, plain_counts = _rows_of(_sample_events())
    ends = array("q")
    text, counts = _text_of((_dimensions_renamed(e, prefixes) for e in _sample_events()), ends)
    assert counts == plain_counts
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\n")
    row_ends = [0]  # bytes of UTF-8 after each row, as --jobs N finds each event's rows
    for plain in plain_rows:
        row = list(plain)
        for field, column in EVENT_COLUMNS.items():
            row[column] = safe_cell(prefixes[field] + plain[column])
        writer.writerow(row)
        row_ends.append(len(expected.getvalue().encode()))
    assert text == expected.getvalue()
    assert list(ends) == [row_ends[rows] for rows in accumulate(counts)]


@pytest.mark.parametrize(
    "texts",
    [["a", "b,c"], ['x"y'], ["a\nb"], ["a", "b\rc"], ["=1"], ["ok", "+1"], ["ok", "-x"],
     ["@a"], ["\tx"]],
)  # fmt: skip
def test_ids_that_csv_quotes_or_cells_prefix_are_not_plain(texts):
    assert not all_plain(texts)


def test_plain_ids_are_plain():
    assert all_plain([]) and all_plain(["e-1", "rec 2", "", "x=y", "a-b"])
