"""queries.csv's rows, joined as text: the very bytes csv.writer writes for the same cells.

The reference below is the writer before rows were joined as text (csv.writer over each
row's cells), over queries with generated hostile ids, studies and sites: commas,
quotes, line breaks, formula starts, spreadsheet separators and non-ASCII text.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit.replay.cells import safe_cell
from agents.audit.replay.tables import QUERIES_HEADER, queries_csv, query_lines
from agents.settings import load_settings
from schemas import QueryEvent
from schemas.timestamps import format_timestamp, seconds_ms
from streams import ACCEPTED, AGING_BUCKETS, Engine
from streams.queries import AWAITING_DM, AWAITING_SITE, CLOSED, STATE_NAMES, aging_bucket, fold
from streams.scorecards import NEEDED_BREAKDOWN

ROOT = Path(__file__).resolve().parents[3]
FUZZ = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1  # make fuzz
DAY_US = 86_400_000_000
START_US = 1_767_571_200_000_000  # 2026-01-05T00:00:00Z
AS_OF_US = START_US + 20 * DAY_US
# What csv.writer quotes for, what cells.py prefixes or splits at, and non-ASCII text.
HOSTILE = st.text(alphabet=",\"\r\n=+-@\t ;:|'aZ09é中\u2028😀", min_size=1, max_size=6)


def _reference_queries_csv(
    engine: Engine, sites: dict[tuple[str, str], str], as_of_us: int
) -> bytes:
    """csv.writer over each query's cells, as the replay wrote queries.csv before."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for study_id in sorted(engine.studies):
        queries = engine.studies[study_id].queries.queries
        for query_id in sorted(queries):
            folded = fold(queries[query_id].events, as_of_us)
            if folded.opened_us is None:
                continue
            answered = closed = None
            for time_us, state, opened in folded.changes:
                if opened == time_us and state == AWAITING_SITE:
                    answered = closed = None
                elif state == AWAITING_DM:
                    answered = time_us
                elif state == CLOSED:
                    closed = time_us
            is_open = folded.state in (AWAITING_SITE, AWAITING_DM)
            age = as_of_us - folded.opened_us if is_open else None
            writer.writerow([
                safe_cell(query_id), safe_cell(study_id),
                safe_cell(sites.get((study_id, query_id), "")),
                STATE_NAMES[folded.state], format_timestamp(folded.opened_us),
                "" if answered is None else format_timestamp(answered),
                "" if closed is None else format_timestamp(closed),
                "" if age is None else f"{seconds_ms(age):.3f}",
                "" if age is None else AGING_BUCKETS[aging_bucket(age)],
            ])  # fmt: skip
    return QUERIES_HEADER + out.getvalue().encode()


@st.composite
def query_events(draw: st.DrawFn) -> list[QueryEvent]:
    """Queries of a configured study or a hostile one, each a few status changes in time."""
    plain = draw(st.booleans())  # every id plain too: the path that checks a column at once
    ids = st.from_regex(r"q-[0-9]{1,4}", fullmatch=True) if plain else HOSTILE
    events = []
    for number in range(draw(st.integers(1, 12))):
        query_id = draw(ids)
        study = draw(st.sampled_from(["ONC-301", "CV-204"]) | (st.nothing() if plain else HOSTILE))
        site = draw(st.sampled_from(["FR-201", ""]) | (st.nothing() if plain else HOSTILE))
        for status in draw(st.lists(
            st.sampled_from(["opened", "answered", "closed", "cancelled"]), min_size=1, max_size=4
        )):  # fmt: skip
            events.append(QueryEvent(
                event_id=f"qev-{number}-{len(events)}", query_id=query_id, study_id=study,
                site_id=site, status=status,
                occurred_at=START_US + draw(st.integers(0, 40 * DAY_US)) // 1000
                * draw(st.sampled_from([1, 1000, 1_000_000])),
            ))  # fmt: skip
    return events


def _engine_of(events: list[QueryEvent]) -> tuple[Engine, dict[tuple[str, str], str]]:
    settings_ = load_settings(str(ROOT / "deploy/simulated-studies.toml"))
    engine = Engine(replace(settings_.engine_config(retention=False), breakdown=NEEDED_BREAKDOWN))
    sites: dict[tuple[str, str], str] = {}
    for event in events:
        if engine.apply(event) == ACCEPTED:
            sites.setdefault((event.study_id, event.query_id), event.site_id)
    return engine, sites


@settings(max_examples=FUZZ * 150, deadline=None)
@given(events=query_events())
def test_queries_csv_is_what_csv_writer_writes_for_hostile_ids_studies_and_sites(events):
    engine, sites = _engine_of(events)
    written = queries_csv(engine, sites, AS_OF_US)
    assert written == _reference_queries_csv(engine, sites, AS_OF_US)
    # The --jobs path merges the same lines by (study, query id).
    keys = [key for key, _line in query_lines(engine, sites, AS_OF_US)]
    assert keys == sorted(keys)


def test_a_query_opened_after_the_as_of_instant_has_no_row_and_an_open_one_its_age():
    opened = QueryEvent(event_id="e1", query_id="q1", study_id="ONC-301", site_id="FR-201",
                        status="opened", occurred_at=AS_OF_US - 7 * DAY_US)  # fmt: skip
    later = QueryEvent(event_id="e2", query_id="q2", study_id="ONC-301", site_id="FR-201",
                       status="opened", occurred_at=AS_OF_US + 1)  # fmt: skip
    engine, sites = _engine_of([opened, later])
    rows = list(csv.reader(io.StringIO(queries_csv(engine, sites, AS_OF_US).decode())))
    assert rows[1:] == [["q1", "ONC-301", "FR-201", "awaiting_site",
                         format_timestamp(AS_OF_US - 7 * DAY_US), "", "", "604800.000", "0-7d"]]  # fmt: skip


# From 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z, the contract's timestamps.
FIRST_US, LAST_US = -62_135_596_800_000_000, 253_402_300_799_999_999


@settings(max_examples=FUZZ * 200, deadline=None)
@given(
    as_of=st.integers(FIRST_US, LAST_US),
    age=st.one_of(
        st.integers(0, LAST_US - FIRST_US),  # any age the contract allows
        # half a millisecond and either side of it: where seconds_ms rounds
        st.tuples(st.integers(0, 10**14), st.sampled_from([0, 499, 500, 501, 999])).map(
            lambda ms_rest: ms_rest[0] * 1000 + ms_rest[1]
        ),
    ),
)
def test_an_open_querys_age_is_written_as_seconds_ms_writes_it_at_any_age(as_of, age):
    opened_us = max(FIRST_US, as_of - age)
    opened = QueryEvent(event_id="e1", query_id="q1", study_id="ONC-301", site_id="FR-201",
                        status="opened", occurred_at=opened_us)  # fmt: skip
    engine, sites = _engine_of([opened])
    assert queries_csv(engine, sites, as_of) == _reference_queries_csv(engine, sites, as_of)
