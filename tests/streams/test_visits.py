"""Visit to entry (issue 23): the rule at its boundaries, and every figure against the brute force."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import EntryEvent, format_timestamp
from schemas.events import document_hook
from streams import Engine, EngineConfig
from streams.visits import (
    AHEAD_OF_UTC_US,
    PACK_FACTOR,
    VALUE_BITS,
    VisitFigures,
    pack,
    visit_ledger,
    visit_parts,
    visit_report,
    visit_to_entry_us,
)
from tests.streams import brute_force

BASE = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000_000
DAY = 24 * HOUR
ALL = ("site", "country", "vendor")
MEDIUM, HIGH = 5 * DAY, 7 * DAY


def entry(n: int, entered_us: int, visit_date: str | None, site: str = "s1",
          study: str = "S1", event_id: str | None = None) -> EntryEvent:  # fmt: skip
    return msgspec.convert(
        {
            "schema": "edc.entry/1",
            "event_id": event_id or f"e{n}",
            "study_id": study,
            "site_id": site,
            "subject_id": "x",
            "form_id": "f",
            "record_id": f"r{n}",
            "entered_at": format_timestamp(entered_us),
            "country": "DE",
            "vendor": "V1",
            **({"visit_date": visit_date} if visit_date is not None else {}),
        },
        EntryEvent,
        strict=True,
        dec_hook=document_hook,
    )


def _report(engine: Engine, as_of: int):  # type: ignore[no-untyped-def]
    config = engine.config
    parts = visit_parts(engine, as_of)
    return visit_report(parts, config.visit_medium_us, config.visit_high_us)


# -- the rule at its boundaries ----------------------------------------------------------


@pytest.mark.parametrize(
    ("after_midnight_us", "expected"),
    [
        (0, 0),  # at 00:00 UTC of the visit date
        (1, 1),
        (-1, 0),  # entered on its visit date in a zone ahead of UTC
        (-AHEAD_OF_UTC_US, 0),  # exactly 14 h before: UTC+14's midnight
        (-AHEAD_OF_UTC_US - 1, None),  # before the visit date in every zone
        (5 * DAY, 5 * DAY),
        (7 * DAY + 1, 7 * DAY + 1),
    ],
)
def test_visit_to_entry_counts_from_midnight_utc_of_the_visit_date(after_midnight_us, expected):
    assert visit_to_entry_us("2024-01-01", BASE + after_midnight_us) == expected


@pytest.mark.parametrize(
    ("elapsed_us", "over_medium", "over_high"),
    [
        (5 * DAY - 1, 0, 0),
        (5 * DAY, 0, 0),  # exactly 5 days is not above 5 days
        (5 * DAY + 1, 1, 0),
        (7 * DAY, 1, 0),  # exactly 7 days is not above 7 days
        (7 * DAY + 1, 1, 1),
    ],
)
def test_the_thresholds_count_entries_strictly_above_them(elapsed_us, over_medium, over_high):
    engine = Engine(EngineConfig(breakdown=ALL, retention_us=None))
    engine.apply(entry(1, BASE + elapsed_us, "2024-01-01"))
    group = engine.studies["S1"].visits.groups[("s1", "DE", "V1")]
    assert (group.over_medium, group.over_high) == (over_medium, over_high)
    figures = _report(engine, BASE + elapsed_us).studies["S1"].all
    assert (figures.count, figures.max_us, figures.over_medium, figures.over_high) == (
        1, elapsed_us, over_medium, over_high,
    )  # fmt: skip


def test_entries_without_a_visit_date_or_entered_before_it_are_left_out_and_counted():
    engine = Engine(EngineConfig(breakdown=ALL, retention_us=None))
    engine.apply(entry(1, BASE, None))
    engine.apply(entry(2, BASE - AHEAD_OF_UTC_US - 1, "2024-01-01"))
    engine.apply(entry(3, BASE + DAY, "2024-01-01"))
    ledger = engine.studies["S1"].visits
    assert (ledger.without_visit_date, ledger.before_visit) == (1, 1)
    study = _report(engine, BASE + DAY).studies["S1"]
    assert (study.all.count, study.without_visit_date, study.entered_before_visit) == (1, 1, 1)
    # As of T: an entry entered after T is not counted yet, whatever its reason.
    study = _report(engine, BASE - 1).studies["S1"]
    assert (study.all.count, study.without_visit_date, study.entered_before_visit) == (0, 0, 1)


def test_a_groups_entry_with_a_visit_date_never_seen_before_is_counted():
    """The engine's shortcut knows only dates seen before (``VISIT_STARTS``, a cache): a
    group's second entry with a date new to the process takes ``VisitLedger.add``."""
    from streams.visits import VISIT_STARTS

    engine = Engine(EngineConfig(breakdown=ALL, retention_us=None))
    engine.apply(entry(1, BASE + HOUR, "2024-01-01"))
    VISIT_STARTS.pop("2023-12-30", None)  # new to this process whatever ran before
    engine.apply(entry(2, BASE + HOUR, "2023-12-30"))
    study = _report(engine, BASE + DAY).studies["S1"]
    assert study.all.count == 2
    assert study.all.max_us == visit_to_entry_us("2023-12-30", BASE + HOUR) == 2 * DAY + HOUR


def test_thresholds_come_from_the_configuration():
    engine = Engine(EngineConfig(breakdown=ALL, visit_medium_us=DAY, visit_high_us=2 * DAY))
    engine.apply(entry(1, BASE + DAY + 1, "2024-01-01"))
    group = engine.studies["S1"].visits.groups[("s1", "DE", "V1")]
    assert (group.over_medium, group.over_high) == (1, 0)
    with pytest.raises(ValueError, match="medium <= high"):
        EngineConfig(visit_medium_us=2 * DAY, visit_high_us=DAY)


def test_a_duplicate_event_id_counts_once():
    engine = Engine(EngineConfig(breakdown=ALL))
    first = entry(1, BASE + 6 * DAY, "2024-01-01")
    engine.apply(first)
    engine.apply(first)
    engine.apply(entry(2, BASE + 8 * DAY, "2024-01-01", event_id="e1"))  # same id, other content
    group = engine.studies["S1"].visits.groups[("s1", "DE", "V1")]
    assert (group.tally.count, group.over_medium, group.over_high) == (1, 1, 0)


def test_retention_forgets_the_values_but_never_the_cumulative_counts():
    engine = Engine(EngineConfig(breakdown=ALL, retention_us=2 * DAY))
    engine.apply(entry(1, BASE + 8 * DAY, "2024-01-01"))
    engine.apply(entry(2, BASE, None))
    engine.apply(entry(3, BASE + 30 * DAY, "2024-01-25"))  # moves the horizon on
    ledger = engine.studies["S1"].visits
    group = ledger.groups[("s1", "DE", "V1")]
    assert (group.tally.count, group.over_high, ledger.without_visit_date) == (2, 1, 1)
    assert ledger.values(("s1", "DE", "V1"), BASE + 30 * DAY) == [6 * DAY]
    assert ledger.before_visit_by(BASE + 30 * DAY) == 0


def test_the_state_round_trip_keeps_every_visit_figure():
    config = EngineConfig(breakdown=ALL, retention_us=30 * DAY)
    engine = Engine(config)
    for n, (entered, visit) in enumerate(
        [
            (BASE + 6 * DAY, "2024-01-01"),
            (BASE, None),
            (BASE - DAY, "2024-01-01"),
            (BASE + 9 * DAY, "2024-01-02"),
        ]
    ):
        engine.apply(entry(n, entered, visit))
    restored = Engine.from_state(config, orjson.loads(orjson.dumps(engine.to_state())))
    as_of = BASE + 10 * DAY
    assert _report(restored, as_of) == _report(engine, as_of)
    a, b = engine.studies["S1"].visits, restored.studies["S1"].visits
    assert (a.without_visit_date, a.before_visit) == (b.without_visit_date, b.before_visit)
    for key, group in a.groups.items():
        twin = b.groups[key]
        assert (group.tally.bucket_counts, group.tally.sum_us, group.over_medium,
                group.over_high) == (twin.tally.bucket_counts, twin.tally.sum_us,
                                     twin.over_medium, twin.over_high)  # fmt: skip


def test_values_keep_their_entry_times_exactly_across_the_contract_s_whole_range():
    from schemas.timestamps import parse_timestamp_us
    from streams.visits import VALUE_BITS, VALUE_MASK, pack

    first, last = parse_timestamp_us("0001-01-01T00:00:00Z"), parse_timestamp_us(
        "9999-12-31T23:59:59.999999Z"
    )
    for entered in (first, -1, 0, last):
        for value in (0, 1, last - first):
            assert (pack(entered, value) >> VALUE_BITS, pack(entered, value) & VALUE_MASK) == (
                entered,
                value,
            )


# -- every figure against the brute force -------------------------------------------------

# Coarse: entry times on quarter days and exactly 5 or 7 days (or 14 h before) after a visit
# date's midnight, and a microsecond either side, so values sit on the thresholds often.
VISIT_DATES = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-08"]
_offsets = st.sampled_from(
    [0, 5 * DAY, 7 * DAY, -AHEAD_OF_UTC_US, 12 * HOUR, 6 * DAY, 8 * DAY, -DAY]
)
entry_times = st.one_of(
    st.builds(
        lambda day, off, side: BASE + day * DAY + off + side,
        st.integers(0, 7),
        _offsets,
        st.sampled_from([-1, 0, 0, 0, 1]),
    ),
    st.builds(lambda q: BASE + q * 6 * HOUR, st.integers(-4, 60)),
    st.integers(BASE - 2 * DAY, BASE + 20 * DAY),
)


@st.composite
def visit_entries(draw: st.DrawFn) -> EntryEvent:
    return entry(
        0,
        draw(entry_times),
        draw(st.sampled_from([*VISIT_DATES, None])),
        site=draw(st.sampled_from(["s1", "s2"])),
        study=draw(st.sampled_from(["S1", "S2"])),
        event_id=draw(st.sampled_from([f"e{i}" for i in range(30)])),
    )


def _oracle_shape(report, as_of: int) -> dict:  # type: ignore[no-untyped-def]
    def figures(f: VisitFigures) -> dict:
        return {"count": f.count, "mean": f.mean_us, "p50": f.p50_us, "p95": f.p95_us,
                "max": f.max_us, "over_medium": f.over_medium, "over_high": f.over_high}  # fmt: skip

    return {
        study_id: {
            "grains": {grain: figures(f) for grain, f in study.by_grain.items()},
            "without_visit_date": study.without_visit_date,
            "entered_before_visit": study.entered_before_visit,
        }
        for study_id, study in report.studies.items()
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(visit_entries(), max_size=40), entry_times, st.permutations(range(40)))
def test_visit_figures_equal_the_brute_force_in_any_arrival_order(events, as_of, order):
    engine = Engine(EngineConfig(breakdown=ALL, retention_us=None))
    engine.apply_all(events)
    expected = brute_force.visit_to_entry(events, as_of, MEDIUM, HIGH)
    assert _oracle_shape(_report(engine, as_of), as_of) == expected
    # The live series: cumulative, as of the end, whatever order the events arrive in (a
    # duplicate id keeps its first arrival, as the brute force's dedupe does).
    arrived = [events[i] for i in order if i < len(events)]
    reordered = Engine(EngineConfig(breakdown=ALL, retention_us=None))
    reordered.apply_all(arrived)
    everything = brute_force.visit_to_entry(arrived, 1 << 62, MEDIUM, HIGH)
    live = {
        study_id: (
            {key: (g.tally.count, g.over_medium, g.over_high)
             for key, g in ledger.groups.items() if g.tally.count},
            ledger.without_visit_date,
            ledger.before_visit,
        )
        for study_id, ledger in reordered.visit_ledgers()
        if ledger.groups or ledger.without_visit_date or ledger.before_visit
    }  # fmt: skip
    assert live == {
        study_id: (
            {(site, country, vendor): (f["count"], f["over_medium"], f["over_high"])
             for (site, country, vendor), f in study["grains"].items()},
            study["without_visit_date"],
            study["entered_before_visit"],
        )
        for study_id, study in everything.items()
    }  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(visit_entries(), max_size=40), entry_times, st.integers(1, 4))
def test_engines_fed_disjoint_shards_add_up_to_one_engine(events, as_of, shards):
    from streams.visits import merge_visit_parts

    one = Engine(EngineConfig(breakdown=ALL, retention_us=None))
    one.apply_all(events)
    parts = []
    for shard in range(shards):
        engine = Engine(EngineConfig(breakdown=ALL, retention_us=None))
        seen: set[str] = set()
        for event in events:  # the replay drops repeats of an id before any shard applies
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            if hash((event.study_id, event.record_id, event.entered_at)) % shards == shard:
                engine.apply(event)
        parts.append(visit_parts(engine, as_of))
    merged = visit_report(merge_visit_parts(parts), MEDIUM, HIGH)
    assert merged == _report(one, as_of)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(visit_entries(), max_size=40),
    st.sets(st.integers(0, 40)),
    st.sampled_from([None, 2 * DAY]),
    entry_times,
)
def test_reading_between_arrivals_changes_nothing(events, reads, retention, as_of):
    """An entry is filed and counted when read (streams/visits.py, VisitGroup): an engine
    read after any arrival holds and answers exactly what one read only at the end does."""
    config = EngineConfig(breakdown=ALL, retention_us=retention)
    read, unread = Engine(config), Engine(config)
    for n, event in enumerate(events):
        read.apply(event)
        unread.apply(event)
        if n in reads:  # what a scrape reads
            for _study, ledger in read.visit_ledgers():
                for group in ledger.groups.values():
                    assert group.over_high <= group.over_medium <= group.tally.count
    assert _report(read, as_of) == _report(unread, as_of)
    assert orjson.dumps(read.to_state()) == orjson.dumps(unread.to_state())
    restored = Engine.from_state(config, orjson.loads(orjson.dumps(unread.to_state())))
    assert _report(restored, as_of) == _report(unread, as_of)
    assert orjson.dumps(restored.to_state()) == orjson.dumps(unread.to_state())


# Entry times of the contract's years (0001 to 9999) in µs from 1970, either side of 0.
_ENTRY_US = st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999)


@given(_ENTRY_US, st.integers(min_value=0, max_value=(1 << VALUE_BITS) - 1))
def test_the_engines_one_multiply_packs_as_pack_does(entered_us: int, value_us: int) -> None:
    """Engine.apply packs a dated entry as ``t * PACK_FACTOR - start``; it must equal
    ``pack(t, t - start)`` for every value from 0 to the largest one packed."""
    start = entered_us - value_us
    assert entered_us * PACK_FACTOR - start == pack(entered_us, value_us)


def test_an_hour_filed_in_two_reads_keeps_the_entries_of_both():
    """Entries are filed by hour when read (VisitGroup.file): a second read of the same hour
    adds to the hour's entries, and the retained values as of T hold every one."""
    ledger = visit_ledger(EngineConfig())
    day = 1_767_571_200_000_000  # 2026-01-05T00:00:00Z
    ledger.add((), "2026-01-05", day + 60_000_000)
    assert list(ledger.groups[()].hours) == [day // 3_600_000_000]  # read: filed
    ledger.add((), "2026-01-05", day + 120_000_000)
    assert len(ledger.groups[()].hours[day // 3_600_000_000]) == 2  # filed again, same hour
    assert sorted(ledger.values((), day + 3_600_000_000)) == [60_000_000, 120_000_000]
