"""Visit to entry as the report reads it: by dimension, the left-out entries as of T at
their edges, before 1970, and the breakdown the figures need (streams/visits.py).

Written against the engine and ``visit_parts``/``visit_report`` only: the ledger's
internals may change for speed, these answers may not.
"""

from __future__ import annotations

import msgspec
import pytest

from schemas import EntryEvent, format_timestamp
from schemas.events import document_hook
from schemas.timestamps import parse_timestamp_us
from streams import Engine, EngineConfig
from streams.visits import AHEAD_OF_UTC_US, VisitFigures, visit_parts, visit_report

BASE = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000_000
DAY = 24 * HOUR
ALL = ("site", "country", "vendor")


def _entry(n: int, entered_us: int, visit_date: str | None, site: str = "s1",
           country: str | None = "DE", vendor: str | None = "V1") -> EntryEvent:  # fmt: skip
    document = {
        "schema": "edc.entry/1", "event_id": f"e{n}", "study_id": "S1", "site_id": site,
        "subject_id": "x", "form_id": "f", "record_id": f"r{n}",
        "entered_at": format_timestamp(entered_us),
        **({"country": country} if country else {}), **({"vendor": vendor} if vendor else {}),
        **({"visit_date": visit_date} if visit_date else {}),
    }  # fmt: skip
    return msgspec.convert(document, EntryEvent, strict=True, dec_hook=document_hook)


def _report(engine: Engine, as_of: int):  # type: ignore[no-untyped-def]
    config = engine.config
    return visit_report(visit_parts(engine, as_of), config.visit_medium_us, config.visit_high_us)


def test_figures_by_site_country_and_vendor_merge_the_grains_of_each_value():
    engine = Engine(EngineConfig(breakdown=ALL))
    engine.apply_all([
        _entry(1, BASE + DAY, "2024-01-01", "s1", "DE", "V1"),
        _entry(2, BASE + 6 * DAY, "2024-01-01", "s2", "DE", "V2"),
        _entry(3, BASE + 8 * DAY, "2024-01-01", "s2", "FR", None),
        _entry(4, BASE + 2 * DAY, "2024-01-01", "s1", None, "V1"),
    ])  # fmt: skip
    report = _report(engine, BASE + 10 * DAY)
    assert (report.medium_us, report.high_us) == (5 * DAY, 7 * DAY)
    study = report.studies["S1"]

    def figures(*values: int) -> VisitFigures:
        return VisitFigures.of(values, 5 * DAY, 7 * DAY)

    assert study.by_dimension == {
        "site": {"s1": figures(DAY, 2 * DAY), "s2": figures(6 * DAY, 8 * DAY)},
        "country": {"DE": figures(DAY, 6 * DAY), "FR": figures(8 * DAY),
                    "unassigned": figures(2 * DAY)},
        "vendor": {"V1": figures(DAY, 2 * DAY), "V2": figures(6 * DAY),
                   "unassigned": figures(8 * DAY)},
    }  # fmt: skip
    assert study.all == figures(DAY, 2 * DAY, 6 * DAY, 8 * DAY)
    assert (study.all.over_medium, study.all.over_high) == (2, 1)
    assert list(study.by_grain) == [
        ("s1", "DE", "V1"), ("s1", "unassigned", "V1"), ("s2", "DE", "V2"),
        ("s2", "FR", "unassigned"),
    ]  # fmt: skip


def test_entries_entered_before_their_visit_count_as_of_their_own_entry_time():
    early = BASE - AHEAD_OF_UTC_US - 1  # before 2024-01-01 in every zone
    engine = Engine(EngineConfig(breakdown=ALL))
    # Three in the same hour of entry time, one an hour later.
    engine.apply_all([
        _entry(1, early, "2024-01-01"), _entry(2, early - 1, "2024-01-01"),
        _entry(3, early - 2, "2024-01-01"), _entry(4, early + HOUR, "2024-01-02"),
    ])  # fmt: skip
    counted = [
        _report(engine, t).studies.get("S1")
        for t in (early - 3, early - 2, early - 1, early, early + HOUR)
    ]
    assert counted[0] is None  # nothing entered by T
    assert [s.entered_before_visit for s in counted[1:]] == [1, 2, 3, 4]  # type: ignore[union-attr]
    assert all(s.all.count == 0 and s.without_visit_date == 0 for s in counted[1:])  # type: ignore[union-attr]


def test_an_entry_before_1970_entered_before_its_visit_is_counted():
    entered = parse_timestamp_us("1969-12-01T00:00:00Z")
    engine = Engine(EngineConfig(breakdown=ALL))
    engine.apply_all([_entry(1, entered, "1970-01-01"), _entry(2, entered, "1969-11-30")])
    study = _report(engine, entered).studies["S1"]
    assert (study.entered_before_visit, study.all.count, study.all.max_us) == (1, 1, DAY)
    import orjson  # and a checkpoint of it restores them

    restored = Engine.from_state(engine.config, orjson.loads(orjson.dumps(engine.to_state())))
    assert _report(restored, entered) == _report(engine, entered)


def test_figures_by_grain_need_site_country_and_vendor_in_the_breakdown():
    engine = Engine(EngineConfig(breakdown=("site",)))
    with pytest.raises(ValueError) as refused:
        visit_parts(engine, BASE)
    assert str(refused.value) == (
        "visit figures by grain need the engine's breakdown to include ['country', 'vendor']"
    )


def test_an_entry_exactly_14_hours_before_its_visit_date_counts_0_and_one_microsecond_more_is_left_out():
    engine = Engine(EngineConfig(breakdown=ALL))
    engine.apply_all([
        _entry(1, BASE - AHEAD_OF_UTC_US, "2024-01-01"),
        _entry(2, BASE - AHEAD_OF_UTC_US - 1, "2024-01-01"),
        _entry(3, BASE - 1, "2024-01-01"),
    ])  # fmt: skip
    study = _report(engine, BASE).studies["S1"]
    assert (study.all.count, study.all.max_us, study.entered_before_visit) == (2, 0, 1)


def test_entries_of_one_hour_and_group_all_keep_their_values_and_the_cumulative_counts_add_up():
    engine = Engine(EngineConfig(breakdown=ALL))
    engine.apply_all([
        _entry(1, BASE + DAY, "2024-01-01"), _entry(2, BASE + DAY + 1, "2024-01-01"),
        _entry(3, BASE + DAY + 2, "2024-01-01"), _entry(4, BASE + DAY, None),
        _entry(5, BASE + DAY + 3, None), _entry(6, BASE - DAY, "2024-01-01"),
        _entry(7, BASE - DAY + 1, "2024-01-01"),
    ])  # fmt: skip
    study = _report(engine, BASE + 2 * DAY).studies["S1"]
    assert (study.all.count, study.all.max_us, study.all.p50_us) == (3, DAY + 2, DAY + 1)
    assert (study.without_visit_date, study.entered_before_visit) == (2, 2)
    # What a checkpoint keeps (and the live series export): the cumulative counts per reason.
    without_visit_date, before_visit = engine.to_state()["studies"][0][6][:2]
    assert (without_visit_date, before_visit) == (2, 2)


def test_values_of_an_hour_are_forgotten_once_it_ends_at_the_retention_horizon():
    for margin, kept in ((0, 1), (1, 2)):
        engine = Engine(EngineConfig(breakdown=ALL, retention_us=DAY))
        engine.apply(_entry(1, BASE + 2 * DAY, "2024-01-01"))
        # A day after the end of the first entry's hour (minus the margin): the horizon.
        engine.apply(_entry(2, BASE + 2 * DAY + HOUR + DAY - margin, "2024-01-01"))
        study = _report(engine, BASE + 4 * DAY).studies["S1"]
        assert study.all.count == kept
