"""entries.csv's rows, joined as text: hostile ids and dimensions come out as csv.writer and
cells.py write them, to the byte."""

from __future__ import annotations

import csv
import io
import os
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
from schemas.timestamps import format_timestamp, parse_timestamp_us
from streams import ACCEPTED, Engine
from streams.scorecards import NEEDED_BREAKDOWN

ROOT = Path(__file__).resolve().parents[3]
FUZZ = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1  # make fuzz
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


# From 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z, the contract's timestamps.
FIRST_US, LAST_US = -62_135_596_800_000_000, 253_402_300_799_999_999
US_PER_MINUTE = 60_000_000


@settings(max_examples=FUZZ * 100, deadline=None)

def _fed(events: list[EntryEvent]) -> tuple[Engine, EntryRows]:
    """An engine with the simulated studies' dashboards fed the entries, and their rows."""
    settings_ = load_settings(str(ROOT / "deploy/simulated-studies.toml"))
    engine = Engine(replace(settings_.engine_config(retention=False), breakdown=NEEDED_BREAKDOWN))
    rows = EntryRows()
    for event in events:
        assert engine.apply(event) == ACCEPTED
        rows.add(event, engine.last_entry_seq, engine.last_entry_group)
    return engine, rows

@given(times=st.lists(st.one_of(
    st.integers(FIRST_US, LAST_US),  # anywhere: each its own minute
    st.integers(0, 3 * US_PER_MINUTE).map(lambda us: 1_767_571_200_000_000 + us),  # shared minutes
    st.integers(FIRST_US // 1000, LAST_US // 1000).map(lambda ms: ms * 1000),  # whole ms
    st.integers(FIRST_US // 1_000_000, LAST_US // 1_000_000).map(lambda s: s * 1_000_000),
), min_size=1, max_size=30))  # fmt: skip
def test_entry_times_are_written_as_format_timestamp_writes_them_in_any_order(times):
    events = [
        EntryEvent(event_id=f"e{n}", study_id="ONC-301", site_id="FR-201", subject_id="s",
                   form_id="f", record_id=f"r{n}", entered_at=entered)
        for n, entered in enumerate(times)
    ]  # fmt: skip
    engine, rows = _fed(events)
    out = io.StringIO()
    write_entry_rows(rows, engine, LAST_US, out)
    dashboards = len(engine.studies["ONC-301"].dashboards)
    written = [row[8] for row in csv.reader(io.StringIO(out.getvalue()))]
    assert written == [format_timestamp(us) for us in times for _ in range(dashboards)]


def test_an_entry_the_engine_no_longer_retains_is_refused_not_written_as_pending():
    """A live engine's retention forgets published entries; entries.csv must not write
    such an entry as pending (the replay's engine never forgets: retention=False)."""
    settings_ = load_settings(str(ROOT / "deploy/simulated-studies.toml"))
    engine = Engine(replace(settings_.engine_config(retention=True), breakdown=NEEDED_BREAKDOWN))
    start = parse_timestamp_us("2026-01-05T00:00:00Z")
    common = {"study_id": "CV-204", "site_id": "FR-201", "subject_id": "s", "form_id": "f"}
    first = EntryEvent(event_id="e1", record_id="r1", entered_at=start, **common)
    rows = EntryRows()
    assert engine.apply(first) == ACCEPTED
    rows.add(first, engine.last_entry_seq, engine.last_entry_group)
    publish = PublishEvent(event_id="p1", study_id="CV-204", published_at=start + 3_600_000_000,
                           data_cutoff=start)  # fmt: skip
    assert engine.apply(publish) == ACCEPTED
    for day in range(1, 60):  # the watermark moves on; the published entry is forgotten
        later = EntryEvent(event_id=f"e{day + 1}", record_id=f"r{day + 1}",
                           entered_at=start + day * 86_400_000_000, **common)  # fmt: skip
        assert engine.apply(later) == ACCEPTED
    with pytest.raises(LookupError):
        write_entry_rows(rows, engine, start + 60 * 86_400_000_000, io.StringIO())


@settings(max_examples=FUZZ * 50, deadline=None)
@given(offsets=st.lists(st.integers(-3, 3).map(lambda hours: hours * 3_600_000_000 + 1),
                        min_size=1, max_size=12),
       site=st.sampled_from(["FR-201", "é,中"]))  # fmt: skip
def test_each_events_end_counts_its_rows_and_an_event_entered_after_t_has_none(offsets, site):
    """--jobs N's offsets: one per event, those entered after T (no rows) included."""
    as_of = parse_timestamp_us("2026-01-09T00:00:00Z")
    events = [
        EntryEvent(event_id=f"e{n}", study_id="ONC-301", site_id=site, subject_id="s",
                   form_id="f", record_id=f"r{n}", entered_at=as_of + offset)
        for n, offset in enumerate(offsets)
    ]  # fmt: skip
    engine, rows = _fed(events)
    out, ends = io.StringIO(), array("q")
    counts = write_entry_rows(rows, engine, as_of, out, ends)
    dashboards = len(engine.studies["ONC-301"].dashboards)
    assert counts == [0 if offset > 0 else dashboards for offset in offsets]
    lines = out.getvalue().splitlines(keepends=True)
    row_ends = list(accumulate((len(line.encode()) for line in lines), initial=0))
    assert list(ends) == [row_ends[rows] for rows in accumulate(counts)]
