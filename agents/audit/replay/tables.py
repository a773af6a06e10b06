"""entries.csv and queries.csv: one row per entry event (and dashboard), one per query."""

from __future__ import annotations

import csv
import io
from array import array
from itertools import accumulate
from typing import TextIO

from agents.audit.replay.cells import all_plain, safe_cell, safe_cells
from schemas import EntryEvent
from schemas.timestamps import TimestampFormatter, seconds_ms
from streams import AGING_BUCKETS, Engine
from streams.latency import GroupKey, overdue_before, publish_times_by_arrival, within_sla
from streams.queries import AWAITING_DM, AWAITING_SITE, STATE_NAMES, aging_bucket, latest_cycle

# (study, site, country, vendor, form) of an entry event.
Dimensions = tuple[str, str, str, str, str]


class EntryRows:
    """Per accepted entry event, what entries.csv needs to find its entries in the engine.

    Columns rather than a tuple per event: its id, record id, entry time and arrival
    number (``array``s of int64: 8 bytes each), and the index of its dimensions with its
    breakdown group in ``kinds`` (few distinct: each is stored once however many
    entries share it, and the writer resolves each kind's cells once). With the engine,
    the arrival number finds the event's publish time on each dashboard of its study
    when the CSV is written (``publish_times_by_arrival``), so no view object is kept per
    entry and dashboard (which cost ~100 bytes and ~1 µs each, 1M lines). This runs in
    the engine's process, on the replay's critical path: an event costs a tuple, a
    lookup and five appends.
    """

    __slots__ = ("_index_of", "entered", "event_ids", "kind_of", "kinds", "record_ids", "seqs")

    def __init__(self) -> None:
        self.event_ids: list[str] = []
        self.record_ids: list[str] = []
        self.entered = array("q")
        self.seqs = array("q")
        self.kind_of = array("q")  # per event, its index in ``kinds``
        self.kinds: list[tuple[Dimensions, GroupKey]] = []
        self._index_of: dict[tuple[str, str, str, str, str, GroupKey], int] = {}

    def add(self, event: EntryEvent, seq: int, group: GroupKey) -> None:
        """An entry event the engine accepted with this arrival number and breakdown group."""
        key = (event.study_id, event.site_id, event.country or "", event.vendor or "",
               event.form_id, group)  # fmt: skip
        index = self._index_of.get(key)
        if index is None:
            index = self._index_of[key] = len(self.kinds)
            self.kinds.append((key[:5], group))  # type: ignore[arg-type]
        self.event_ids.append(event.event_id)
        self.record_ids.append(event.record_id)
        self.entered.append(event.entered_at)
        self.seqs.append(seq)
        self.kind_of.append(index)


ENTRIES_HEADER = (
    b"event_id,study,dashboard,site,country,vendor,form,record_id,entered_at,published_at,"
    b"latency_s,within_sla,state\n"
)

US_PER_MINUTE = 60_000_000
# A second of the minute as a timestamp writes it, with the point of its fraction.
_SECONDS_DOT = tuple(f"{second:02d}." for second in range(60))
# A latency's milliseconds as entries.csv writes them after the point.
_MILLIS = tuple(f"{ms:03d}" for ms in range(1000))
# The cells after latency_s of a published row, by within SLA.
_PUBLISHED_TAILS = (",false,published\n", ",true,published\n")


class _EncodedChunks:
    """A text sink that keeps what it is given as UTF-8 chunks, joined once at the end."""

    __slots__ = ("chunks",)

    def __init__(self, first: bytes) -> None:
        self.chunks = [first]

    def write(self, text: str) -> int:
        self.chunks.append(text.encode())
        return len(text)


def entries_csv(rows: EntryRows, engine: Engine, as_of_us: int) -> bytes:
    """One row per entry event and dashboard of its study (in the study's dashboard order)."""
    out = _EncodedChunks(ENTRIES_HEADER)
    write_entry_rows(rows, engine, as_of_us, out)  # type: ignore[arg-type]
    return b"".join(out.chunks)


# Per kind of entry (EntryRows.kinds), resolved at its first row: per dashboard of its
# study, the publish times of that dashboard's position by arrival number
# (``_publish_times``) and the row's cells from study to form ("study,dashboard,site,
# country,vendor,form", as csv.writer joins them); the study's SLA; and the instant
# before which an unpublished entry is overdue.
_Targets = tuple[tuple[tuple["array[int]", str], ...], int, int]

# What ``_publish_times`` holds for an arrival number whose entry is not published, and
# for one the engine does not retain (or no entry): both below the contract's earliest
# instant (0001-01-01T00:00:00Z, -62,135,596,800 s), so never a publish time.
NOT_RETAINED = -(1 << 63)
PENDING = NOT_RETAINED + 1


def _publish_times(engine: Engine) -> list[array[int]]:
    """Per position of a dashboard in its study's order, the ``published_us`` of each entry
    on it by arrival number (the engine's seq), ``PENDING`` or ``NOT_RETAINED``: an entry's
    publish found by an index, where ``GroupLedger.published_of`` made a key and two
    dict look-ups per row. One array per position, not per dashboard: an arrival
    number is one study's entry. 8 bytes an event seen and position (2 for the
    simulated studies)."""
    size = engine.seq + 1
    by_position: list[array[int]] = []
    for study in engine.studies.values():
        for position, ledger in enumerate(study.dashboards.values()):
            if position == len(by_position):
                by_position.append(array("q", [NOT_RETAINED]) * size)
            publish_times_by_arrival(ledger, by_position[position], PENDING)
    return by_position


def write_entry_rows(
    rows: EntryRows, engine: Engine, as_of_us: int, out: TextIO, ends: array[int] | None = None
) -> list[int]:
    """entries.csv's rows without the header into a text stream (a file: no copy of the
    rows in memory); answers how many rows each entry event has (0 or its dashboards).

    Rows are joined as text, faster than ``csv.writer`` with its per-cell checks,
    and the same bytes: the cells that vary per row are ids, made safe and quoted as
    ``csv.writer`` would (``_id_cell``) unless the whole column is plain (checked at
    once, ``cells.all_plain``: the common case costs nothing per row), and timestamps
    and numbers we format; the rest (study, dashboard, site, country, vendor, form) is
    written by ``csv.writer`` once per kind of entry (``_csv_text``), with the ledgers
    it is found in. What remains per row is its publish time read by arrival number
    (``_publish_times``), its entry time formatted and the row's one f-string.

    ``ends`` (``--jobs N``) gets the offset in bytes of UTF-8 after each event's rows,
    counted from the rows as they are written rather than found again in the file: the
    batch holds one text per event (its rows, or none), so its lengths are the steps.
    """
    plain_ids = all_plain(rows.event_ids) and all_plain(rows.record_ids)
    rows_per_event: list[int] = []
    count_rows = rows_per_event.append
    timestamp = TimestampFormatter()
    published_texts: dict[int, str] = {}  # a publish covers many entries: its time once
    batch: list[str] = []  # per event, its rows' text
    add_rows = batch.append
    millis, published_tails = _MILLIS, _PUBLISHED_TAILS
    targets_of: list[_Targets | None] = [None] * len(rows.kinds)
    publish_times = _publish_times(engine) if rows.kinds else []
    written = 0  # bytes written
    minute_start = minute_end = 0  # the minute [start, end) of the last entry time, and
    minute_text = ""  # its text
    seconds_dot = _SECONDS_DOT
    for event_id, record_id, entered_us, seq, kind in zip(
        rows.event_ids, rows.record_ids, rows.entered, rows.seqs, rows.kind_of, strict=True
    ):
        if entered_us > as_of_us:
            count_rows(0)  # entered after T: not an entry as of T
            add_rows("")
            continue
        targets = targets_of[kind]
        if targets is None:
            targets = targets_of[kind] = _targets(engine, rows.kinds[kind], as_of_us, publish_times)
        dashboards, sla_us, due_before = targets
        if not dashboards:
            count_rows(0)  # a study without dashboards has no rows
            add_rows("")
            continue
        count_rows(len(dashboards))
        if not plain_ids:
            event_id, record_id = _id_cell(event_id), _id_cell(record_id)
        # format_timestamp's text, its minute shared with the entry before (the rows are
        # in file order: two thirds of the realistic mix's entries share it), the rest
        # written here: a third of this loop's time was the formatter's call per event.
        if not minute_start <= entered_us < minute_end:
            minute_start = entered_us - entered_us % US_PER_MINUTE
            minute_end = minute_start + US_PER_MINUTE
            minute_text = timestamp(minute_start)[:-3]  # "YYYY-MM-DDThh:mm:" of "…:00Z"
        second, micros = divmod(entered_us - minute_start, 1_000_000)
        ms, micros = divmod(micros, 1000)
        if micros:  # microseconds: six digits (whole seconds or ms: the formatter), from
            # two of _MILLIS: 2.5 times faster than the format spec ``:06d``
            entered = f"{minute_text}{seconds_dot[second]}{millis[ms]}{millis[micros]}Z"
        else:
            entered = timestamp(entered_us)
        text = ""  # the event's rows ("" + row is that row, not a copy)
        for times, middle in dashboards:
            published = times[seq]
            if PENDING < published <= as_of_us:
                latency = published - entered_us
                published_text = published_texts.get(published)
                if published_text is None:
                    published_text = published_texts[published] = timestamp(published)
                if latency >= 0:
                    seconds, ms = divmod((latency + 500) // 1000, 1000)  # _seconds_text
                    # within_sla inlined, as streams/latency.py's hot loops do
                    text += (
                        f"{event_id},{middle},{record_id},{entered},{published_text},"
                        f"{seconds}.{millis[ms]}{published_tails[latency <= sla_us]}"
                    )
                else:
                    text += (
                        f"{event_id},{middle},{record_id},{entered},{published_text},"
                        f"{_seconds_text(latency)}{published_tails[within_sla(latency, sla_us)]}"
                    )
            elif published == NOT_RETAINED:
                raise LookupError("entry no longer retained (pruned by the retention)")
            elif entered_us < due_before:
                text += f"{event_id},{middle},{record_id},{entered},,,,overdue\n"
            else:
                text += f"{event_id},{middle},{record_id},{entered},,,,pending\n"
        add_rows(text)
        if len(batch) >= 4096:
            written = _write_batch(out, batch, ends, written)
    _write_batch(out, batch, ends, written)
    return rows_per_event


def _write_batch(out: TextIO, batch: list[str], ends: array[int] | None, offset: int) -> int:
    """Writes the rows of whole events (a text each), and adds each event's end to
    ``ends``: the texts' lengths summed (characters are bytes while the text is ASCII,
    the common case). Answers the offset after them, and empties ``batch``."""
    text = "".join(batch)
    out.write(text)
    if ends is not None and batch:
        lengths = map(len, batch) if text.isascii() else (len(rows.encode()) for rows in batch)
        ends.extend(accumulate(lengths, initial=offset))
        del ends[-len(batch) - 1]  # the initial offset: where the batch starts
        offset = ends[-1]
    batch.clear()
    return offset


def _targets(
    engine: Engine,
    kind: tuple[Dimensions, GroupKey],
    as_of_us: int,
    publish_times: list[array[int]],
) -> _Targets:
    """What the rows of one kind of entry share (``_Targets``)."""
    dimensions, _group_key = kind
    study = engine.studies[dimensions[0]]
    study_cell, site, country, vendor, form = safe_cells(dimensions)
    dashboards = []
    for times, name in zip(publish_times, study.dashboards, strict=False):
        middle = _csv_text((study_cell, safe_cell(name), site, country, vendor, form))
        dashboards.append((times, middle))
    return tuple(dashboards), study.sla_us, overdue_before(as_of_us, study.sla_us)


def _csv_text(cells: tuple[str, ...]) -> str:
    """Cells as ``csv.writer`` joins them in a row (quoted where it would quote)."""
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(cells)
    return line.getvalue()[:-1]


def _id_cell(text: str) -> str:
    """An id from input as its cell: safe from spreadsheets, quoted where csv would. Ids
    are never empty, so this is what ``csv.writer`` writes for it in any row."""
    return _csv_text((safe_cell(text),))


def _any_cell(text: str) -> str:
    """``_id_cell`` of a text that may be empty: a row of several cells leaves it empty
    (csv.writer quotes an empty cell only when it is the row's one cell)."""
    return _id_cell(text) if text else ""


def _seconds_text(us: int) -> str:
    """``f"{seconds_ms(us):.3f}"`` in integer arithmetic (a latency is never negative)."""
    if us < 0:
        return f"{seconds_ms(us):.3f}"
    ms = (us + 500) // 1000
    return f"{ms // 1000}.{ms % 1000:03d}"


QUERIES_HEADER = b"query_id,study,site,state,opened_at,answered_at,closed_at,age_s,bucket\n"


def queries_csv(engine: Engine, sites: dict[tuple[str, str], str], as_of_us: int) -> bytes:
    return QUERIES_HEADER + "".join(line for _key, line in query_lines(
        engine, sites, as_of_us)).encode()  # fmt: skip


# The last two cells of a query's row: empty while closed, else its age and aging bucket.
_CLOSED_AGE = ",\n"
_BUCKET_CELLS = tuple(_csv_text((bucket,)) for bucket in AGING_BUCKETS)


def query_lines(
    engine: Engine, sites: dict[tuple[str, str], str], as_of_us: int
) -> list[tuple[tuple[str, str], str]]:
    """queries.csv's rows as text with their order, (study, query id): ascending.

    The same bytes as ``csv.writer`` over the cells (a property says so): query ids,
    studies and sites are made safe and quoted as csv.writer would (``_id_cell``),
    per column at once while the ids are plain, per study and site once; the other
    cells are our own words, timestamps and numbers, which never need quoting.
    """
    lines: list[tuple[tuple[str, str], str]] = []
    add_line = lines.append
    timestamp = TimestampFormatter()  # the same text, with each hour's cached
    site_cells: dict[str, str] = {}
    state_names = tuple(_csv_text((name,)) for name in STATE_NAMES)
    millis = _MILLIS
    for study_id in sorted(engine.studies):
        queries = engine.studies[study_id].queries.queries
        query_ids = sorted(queries)
        plain_ids = all_plain(query_ids)
        study_cell = _any_cell(study_id)
        for query_id in query_ids:
            # latest_cycle, not fold: the four values the row shows, without the fold's
            # durations and changes (its frozen QueryFold's __init__ ran interpreted).
            state, opened_us, answered, closed = latest_cycle(queries[query_id].events, as_of_us)
            if opened_us is None:
                continue  # never opened as of T: its events are orphans
            if state in (AWAITING_SITE, AWAITING_DM):
                age = as_of_us - opened_us  # never negative: opened as of T
                # f"{seconds_ms(age):.3f}" in integer arithmetic (_seconds_text)
                seconds, ms = divmod((age + 500) // 1000, 1000)
                age_cells = f"{seconds}.{millis[ms]},{_BUCKET_CELLS[aging_bucket(age)]}\n"
            else:
                age_cells = _CLOSED_AGE
            site = sites.get((study_id, query_id), "")
            site_cell = site_cells.get(site)
            if site_cell is None:
                site_cell = site_cells[site] = _any_cell(site)
            add_line(((study_id, query_id), (
                f"{query_id if plain_ids else _any_cell(query_id)},{study_cell},{site_cell},"
                f"{state_names[state]},{timestamp(opened_us)},"
                f"{'' if answered is None else timestamp(answered)},"
                f"{'' if closed is None else timestamp(closed)},{age_cells}"
            )))  # fmt: skip
    return lines
