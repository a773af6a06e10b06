"""entries.csv and queries.csv: one row per entry event (and dashboard), one per query."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from schemas.timestamps import format_timestamp, seconds_ms
from streams import AGING_BUCKETS, Engine
from streams.latency import TrackedEntry
from streams.queries import AWAITING_DM, AWAITING_SITE, CLOSED, STATE_NAMES, aging_bucket, fold

# Per entry event: what the CSV needs beside the engine's tracked entries.
EntryRow = tuple[str, str, str, str, str, str, str, int, tuple[tuple[str, TrackedEntry], ...]]


def entries_csv(rows: Iterable[EntryRow], as_of_us: int, sla_by_study: dict[str, int]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([
        "event_id", "study", "dashboard", "site", "country", "vendor", "form", "record_id",
        "entered_at", "published_at", "latency_s", "within_sla", "state",
    ])  # fmt: skip
    for event_id, study, site, country, vendor, form, record_id, entered_us, tracked in rows:
        if entered_us > as_of_us:
            continue
        for dashboard, entry in tracked:
            published = entry.published_us
            if published is not None and published <= as_of_us:
                latency = published - entered_us
                cells = [
                    format_timestamp(published),
                    f"{seconds_ms(latency):.3f}",
                    "true" if latency <= sla_by_study[study] else "false",
                    "published",
                ]
            else:
                overdue = as_of_us - entered_us > sla_by_study[study]
                cells = ["", "", "", "overdue" if overdue else "pending"]
            writer.writerow([
                event_id, study, dashboard, site, country, vendor, form, record_id,
                format_timestamp(entered_us), *cells,
            ])  # fmt: skip
    return out.getvalue().encode()


def queries_csv(engine: Engine, sites: dict[tuple[str, str], str], as_of_us: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([
        "query_id", "study", "site", "state", "opened_at", "answered_at", "closed_at", "age_s",
        "bucket",
    ])  # fmt: skip
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
            writer.writerow([
                query_id, study_id, sites.get((study_id, query_id), ""),
                STATE_NAMES[folded.state], format_timestamp(folded.opened_us),
                "" if answered is None else format_timestamp(answered),
                "" if closed is None else format_timestamp(closed),
                "" if age is None else f"{seconds_ms(age):.3f}",
                "" if age is None else AGING_BUCKETS[aging_bucket(age)],
            ])  # fmt: skip
    return out.getvalue().encode()
