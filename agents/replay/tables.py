"""entries.csv and queries.csv: one row per entry event (and dashboard), one per query."""

from __future__ import annotations

import csv
import io

from schemas import EntryEvent
from schemas.timestamps import TimestampFormatter, seconds_ms
from streams import AGING_BUCKETS, Engine
from streams.latency import TrackedEntry
from streams.queries import AWAITING_DM, AWAITING_SITE, CLOSED, STATE_NAMES, aging_bucket, fold

# (study, site, country, vendor, form) of an entry event: few distinct values, so each
# is stored once however many entries share it.
Dimensions = tuple[str, str, str, str, str]


class EntryRows:
    """Per accepted entry event, what entries.csv needs beside the engine's tracked entries.

    Columns rather than a tuple per event; the tracked entries of all events in one
    flat list (their record id and entry time are not copied), with a count per event;
    the dimensions interned. ~40 bytes per entry instead of ~500 with a row tuple,
    zipped pairs and repeated strings (tracemalloc, 1M lines).
    """

    __slots__ = ("_interned", "counts", "dimensions", "event_ids", "tracked")

    def __init__(self) -> None:
        self.event_ids: list[str] = []
        self.dimensions: list[Dimensions] = []
        self.counts: list[int] = []  # tracked entries per event: one per dashboard of its study
        self.tracked: list[TrackedEntry] = []  # in the study's dashboard order, event after event
        self._interned: dict[Dimensions, Dimensions] = {}

    def add(self, event: EntryEvent, tracked: list[TrackedEntry]) -> None:
        key = (event.study_id, event.site_id, event.country or "", event.vendor or "",
               event.form_id)  # fmt: skip
        self.event_ids.append(event.event_id)
        self.dimensions.append(self._interned.setdefault(key, key))
        self.counts.append(len(tracked))
        self.tracked.extend(tracked)


ENTRIES_HEADER = (
    b"event_id,study,dashboard,site,country,vendor,form,record_id,entered_at,published_at,"
    b"latency_s,within_sla,state\n"
)


def entries_csv(
    rows: EntryRows,
    dashboards: dict[str, tuple[str, ...]],
    as_of_us: int,
    sla_by_study: dict[str, int],
) -> bytes:
    """One row per entry event and dashboard of its study (``dashboards``, in engine order)."""
    return ENTRIES_HEADER + entries_csv_body(rows, dashboards, as_of_us, sla_by_study)[0]


def entries_csv_body(
    rows: EntryRows,
    dashboards: dict[str, tuple[str, ...]],
    as_of_us: int,
    sla_by_study: dict[str, int],
) -> tuple[bytes, list[int]]:
    """The rows without the header, and how many rows each entry event has (0 or its dashboards)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows_per_event: list[int] = []
    timestamp = TimestampFormatter()
    # A publish covers many entries at once: format its time once.
    published_texts: dict[int, str] = {}
    batch: list[tuple[str, ...]] = []
    all_tracked = rows.tracked
    end = 0
    for event_id, (study, site, country, vendor, form), count in zip(
        rows.event_ids, rows.dimensions, rows.counts, strict=True
    ):
        start, end = end, end + count
        if not count:
            rows_per_event.append(0)
            continue  # a study without dashboards has no rows
        first = all_tracked[start]
        entered_us = first.entered_us
        if entered_us > as_of_us:
            rows_per_event.append(0)
            continue
        rows_per_event.append(count)
        record_id = first.record_id
        entered = timestamp(entered_us)
        sla_us = sla_by_study[study]
        for dashboard, entry in zip(dashboards[study], all_tracked[start:end], strict=True):
            published = entry.published_us
            if published is not None and published <= as_of_us:
                latency = published - entered_us
                published_text = published_texts.get(published)
                if published_text is None:
                    published_text = published_texts[published] = timestamp(published)
                cells = (
                    published_text,
                    _seconds_text(latency),
                    "true" if latency <= sla_us else "false",
                    "published",
                )
            else:
                cells = _OVERDUE if as_of_us - entered_us > sla_us else _PENDING
            batch.append((
                event_id, study, dashboard, site, country, vendor, form, record_id, entered,
                *cells,
            ))  # fmt: skip
        if len(batch) >= 4096:
            writer.writerows(batch)
            batch.clear()
    writer.writerows(batch)
    if end != len(all_tracked):
        raise AssertionError("entry rows out of step with their tracked entries")
    return out.getvalue().encode(), rows_per_event


def _seconds_text(us: int) -> str:
    """``f"{seconds_ms(us):.3f}"`` in integer arithmetic (a latency is never negative)."""
    if us < 0:
        return f"{seconds_ms(us):.3f}"
    ms = (us + 500) // 1000
    return f"{ms // 1000}.{ms % 1000:03d}"


_OVERDUE = ("", "", "", "overdue")
_PENDING = ("", "", "", "pending")


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
                query_id, study_id, sites.get((study_id, query_id), ""),
                STATE_NAMES[folded.state], format_timestamp(folded.opened_us),
                "" if answered is None else format_timestamp(answered),
                "" if closed is None else format_timestamp(closed),
                "" if age is None else f"{seconds_ms(age):.3f}",
                "" if age is None else AGING_BUCKETS[aging_bucket(age)],
            ]))  # fmt: skip
    return rows
