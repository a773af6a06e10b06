"""entries.csv and queries.csv: one row per entry event (and dashboard), one per query."""

from __future__ import annotations

import csv
import io
from array import array
from typing import TextIO

from agents.audit.replay.cells import all_plain, safe_cell, safe_cells
from schemas import EntryEvent
from schemas.timestamps import TimestampFormatter, seconds_ms
from streams import AGING_BUCKETS, Engine
from streams.latency import GroupKey, entry_key, overdue_before, within_sla
from streams.queries import AWAITING_DM, AWAITING_SITE, CLOSED, STATE_NAMES, aging_bucket, fold

# (study, site, country, vendor, form) of an entry event: few distinct values, so each
# is stored once however many entries share it.
Dimensions = tuple[str, str, str, str, str]


class EntryRows:
    """Per accepted entry event, what entries.csv needs to find its entries in the engine.

    Columns rather than a tuple per event: its id, its dimensions (interned), record id,
    entry time and arrival number (``array``s of int64: 8 bytes each), and its breakdown
    group (interned). With the engine, that locates the event's entry on each dashboard
    of its study when the CSV is written, so no view object is kept per entry and
    dashboard (which cost ~100 bytes and ~1 µs each, 1M lines).
    """

    __slots__ = ("_interned", "dimensions", "entered", "event_ids", "groups", "record_ids", "seqs")

    def __init__(self) -> None:
        self.event_ids: list[str] = []
        self.dimensions: list[Dimensions] = []
        self.record_ids: list[str] = []
        self.entered = array("q")
        self.seqs = array("q")
        self.groups: list[GroupKey] = []
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}

    def add(self, event: EntryEvent, seq: int, group: GroupKey) -> None:
        """An entry event the engine accepted with this arrival number and breakdown group."""
        interned = self._interned
        key = (event.study_id, event.site_id, event.country or "", event.vendor or "",
               event.form_id)  # fmt: skip
        self.event_ids.append(event.event_id)
        self.dimensions.append(interned.setdefault(key, key))  # type: ignore[arg-type]
        self.record_ids.append(event.record_id)
        self.entered.append(event.entered_at)
        self.seqs.append(seq)
        self.groups.append(interned.setdefault(group, group))


ENTRIES_HEADER = (
    b"event_id,study,dashboard,site,country,vendor,form,record_id,entered_at,published_at,"
    b"latency_s,within_sla,state\n"
)


def entries_csv(rows: EntryRows, engine: Engine, as_of_us: int) -> bytes:
    """One row per entry event and dashboard of its study (in the study's dashboard order)."""
    return ENTRIES_HEADER + entries_csv_body(rows, engine, as_of_us)[0]


def entries_csv_body(rows: EntryRows, engine: Engine, as_of_us: int) -> tuple[bytes, list[int]]:
    """The rows without the header, and how many rows each entry event has (0 or its dashboards)."""
    out = io.StringIO()
    rows_per_event = write_entry_rows(rows, engine, as_of_us, out)
    return out.getvalue().encode(), rows_per_event


def write_entry_rows(rows: EntryRows, engine: Engine, as_of_us: int, out: TextIO) -> list[int]:
    """``entries_csv_body`` into a text stream (a file: no copy of the rows in memory).

    Rows are joined as text, ~2× faster than ``csv.writer`` with its per-cell checks,
    and the same bytes: the cells that vary per row are ids, made safe and quoted as
    ``csv.writer`` would (``_id_cell``) unless the whole column is plain (checked at
    once, ``cells.all_plain``: the common case costs nothing per row), and timestamps
    and numbers we format; the rest (study, dashboard, site, country, vendor, form) is
    written by ``csv.writer`` once per distinct combination (``_csv_text``).
    """
    plain_ids = all_plain(rows.event_ids) and all_plain(rows.record_ids)
    rows_per_event: list[int] = []
    timestamp = TimestampFormatter()
    published_texts: dict[int, str] = {}  # a publish covers many entries: its time once
    batch: list[str] = []
    # Per study: its ledgers, their dashboard names made safe (cells.py), and its SLA.
    studies = {
        sid: (
            tuple(study.dashboards.values()),
            tuple(safe_cell(name) for name in study.dashboards),
            study.sla_us,
        )
        for sid, study in engine.studies.items()
    }
    # dimensions -> per dashboard of its study, "study,dashboard,site,country,vendor,form"
    middles: dict[Dimensions, tuple[str, ...]] = {}
    for event_id, dimensions, record_id, entered_us, seq, group_key in zip(
        rows.event_ids, rows.dimensions, rows.record_ids, rows.entered, rows.seqs, rows.groups,
        strict=True,
    ):  # fmt: skip
        ledgers, names, sla_us = studies[dimensions[0]]
        if not ledgers or entered_us > as_of_us:
            rows_per_event.append(0)  # a study without dashboards has no rows
            continue
        rows_per_event.append(len(ledgers))
        middle = middles.get(dimensions)
        if middle is None:
            study, site, country, vendor, form = safe_cells(dimensions)
            middle = middles[dimensions] = tuple(
                _csv_text((study, name, site, country, vendor, form)) for name in names
            )
        if not plain_ids:
            event_id, record_id = _id_cell(event_id), _id_cell(record_id)
        head = event_id + ","
        tail = f",{record_id},{timestamp(entered_us)},"
        for ledger, row_middle in zip(ledgers, middle, strict=True):
            group = ledger.groups[group_key]
            published = group.published_of(entry_key(entered_us, seq, group.index))
            if published is not None and published <= as_of_us:
                latency = published - entered_us
                published_text = published_texts.get(published)
                if published_text is None:
                    published_text = published_texts[published] = timestamp(published)
                if latency >= 0:
                    ms = (latency + 500) // 1000  # _seconds_text, inlined
                    seconds = f"{ms // 1000}.{ms % 1000:03d}"
                else:
                    seconds = _seconds_text(latency)
                cells = (
                    f"{published_text},{seconds},"
                    f"{'true' if within_sla(latency, sla_us) else 'false'},published\n"
                )
            else:
                overdue = entered_us < overdue_before(as_of_us, sla_us)
                cells = ",,,overdue\n" if overdue else ",,,pending\n"
            batch.append(head + row_middle + tail + cells)
        if len(batch) >= 4096:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch))
    return rows_per_event


def _csv_text(cells: tuple[str, ...]) -> str:
    """Cells as ``csv.writer`` joins them in a row (quoted where it would quote)."""
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(cells)
    return line.getvalue()[:-1]


def _id_cell(text: str) -> str:
    """An id from input as its cell: safe from spreadsheets, quoted where csv would. Ids
    are never empty, so this is what ``csv.writer`` writes for it in any row."""
    return _csv_text((safe_cell(text),))


def _seconds_text(us: int) -> str:
    """``f"{seconds_ms(us):.3f}"`` in integer arithmetic (a latency is never negative)."""
    if us < 0:
        return f"{seconds_ms(us):.3f}"
    ms = (us + 500) // 1000
    return f"{ms // 1000}.{ms % 1000:03d}"


QUERIES_HEADER = b"query_id,study,site,state,opened_at,answered_at,closed_at,age_s,bucket\n"


def queries_csv(engine: Engine, sites: dict[tuple[str, str], str], as_of_us: int) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(row for _key, row in query_rows(
        engine, sites, as_of_us))  # fmt: skip
    return QUERIES_HEADER + out.getvalue().encode()


def query_rows(
    engine: Engine, sites: dict[tuple[str, str], str], as_of_us: int
) -> list[tuple[tuple[str, str], list[str]]]:
    """queries.csv's rows with their order, (study, query id): ascending."""
    rows: list[tuple[tuple[str, str], list[str]]] = []
    format_timestamp = TimestampFormatter()  # the same text, with days and clocks cached
    for study_id in sorted(engine.studies):
        queries = engine.studies[study_id].queries.queries
        for query_id in sorted(queries):
            folded = fold(queries[query_id].events, as_of_us)
            if folded.opened_us is None:
                continue  # never opened as of T: its events are orphans
            answered = closed = None
            for time_us, state, opened in folded.changes:
                if opened == time_us and state == AWAITING_SITE:
                    answered = closed = None  # (re)opened: earlier answers no longer hold
                elif state == AWAITING_DM:
                    answered = time_us
                elif state == CLOSED:
                    closed = time_us
            is_open = folded.state in (AWAITING_SITE, AWAITING_DM)
            age = as_of_us - folded.opened_us if is_open else None
            rows.append(((study_id, query_id), [
                safe_cell(query_id), safe_cell(study_id),
                safe_cell(sites.get((study_id, query_id), "")),
                STATE_NAMES[folded.state], format_timestamp(folded.opened_us),
                "" if answered is None else format_timestamp(answered),
                "" if closed is None else format_timestamp(closed),
                "" if age is None else f"{seconds_ms(age):.3f}",
                "" if age is None else AGING_BUCKETS[aging_bucket(age)],
            ]))  # fmt: skip
    return rows
