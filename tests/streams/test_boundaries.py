"""Each rule docs/contract.md or docs/design.md states with ≤ or <, at its boundary and one
microsecond past it, through every code path that applies it.

The expected side of each case is asked of ``tests/streams/boundaries.py`` where the rule is
stated once; the instants are chosen so that the two sides differ by one microsecond.
"""

from __future__ import annotations

import pytest

from streams import ACCEPTED, DUPLICATE, Engine, EngineConfig, StudyConfig, tumbling_windows
from streams.scorecards import scorecards
from tests.streams import boundaries
from tests.streams.test_rules import DAY, US, H, entry, feed, query, records, snapshot, t

T0 = "2026-01-05T00:00:00Z"
SLA = 24 * H
SCORECARD_BREAKDOWN = ("site", "country", "vendor")


def engine(retention: int | None = None, sla: int = SLA) -> Engine:
    return Engine(
        EngineConfig(
            default_study=StudyConfig(sla_us=sla),
            retention_us=retention,
            breakdown=SCORECARD_BREAKDOWN,
        )
    )


def at(base: str, offset_us: int) -> str:
    """The RFC 3339 text of base + offset (the contract's own format)."""
    from schemas import format_timestamp

    return format_timestamp(t(base) + offset_us)


def within_everywhere(e: Engine, as_of: int) -> tuple[int, int, int, int]:
    """within_sla as the snapshot, the live tally, the scorecards and the windows count it."""
    snap = e.snapshot(as_of).studies["S"].dashboards["default"].latency.within_sla
    tally = sum(tally.within_sla for _s, _d, _g, tally in e.latency_tallies())
    cards = scorecards(e, as_of).all_studies.by_dimension["vendor"]["unassigned"].within_sla
    window = sum(
        w.studies["S"].dashboards["default"].latency.within_sla
        for w in tumbling_windows(e, as_of, DAY)
        if "S" in w.studies
    )
    return snap, tally, cards, window


# -- SLA: within_sla counts latencies ≤ SLA -------------------------------------------

# Entry "exact" waits exactly the SLA; "over" one microsecond more.
EXACT, OVER = T0, at(T0, -US)
DUE = at(T0, SLA)
ENTRIES = (entry("exact", EXACT, "a"), entry("over", OVER, "b"))
PATHS = {
    "record publish of pending entries": (*ENTRIES, records("p", DUE, ["a", "b"])),
    "snapshot of pending entries": (*ENTRIES, snapshot("p", DUE, EXACT)),
    "entries after their record publish": (records("p", DUE, ["a", "b"]), *ENTRIES),
    "entries after their snapshot": (snapshot("p", DUE, EXACT), *ENTRIES),
    # A later publish first, then the one that lowers both latencies to these two.
    "record publish lowered": (
        *ENTRIES, records("late", at(DUE, H), ["a", "b"]), records("p", DUE, ["a", "b"])
    ),
    "snapshot lowered": (*ENTRIES, snapshot("late", at(DUE, H), EXACT), snapshot("p", DUE, EXACT)),
}  # fmt: skip


@pytest.mark.parametrize("messages", PATHS.values(), ids=PATHS.keys())
def test_a_latency_of_exactly_the_sla_is_within_it_and_one_microsecond_more_is_not(messages):
    assert boundaries.within_sla(SLA, SLA) and not boundaries.within_sla(SLA + US, SLA)
    e = engine()
    feed(e, *messages)
    assert within_everywhere(e, t(DUE)) == (1, 1, 1, 1)
    assert e.snapshot(t(DUE)).studies["S"].dashboards["default"].latency.count == 2


@pytest.mark.parametrize("lowering", [records, snapshot], ids=["record", "snapshot"])
def test_a_latency_lowered_from_exactly_the_sla_is_taken_back_as_within(lowering):
    """The live tally takes back the old observation with the class it was added with."""
    e = engine()
    feed(e, *ENTRIES, records("p", DUE, ["a", "b"]))  # exact: SLA (within); over: SLA + 1 µs
    assert within_everywhere(e, t(DUE)) == (1, 1, 1, 1)
    earlier = at(DUE, -US)  # exact: SLA − 1 µs; over: exactly the SLA
    if lowering is records:
        feed(e, records("earlier", earlier, ["a", "b"]))
    else:
        feed(e, snapshot("earlier", earlier, EXACT))
    assert within_everywhere(e, t(DUE)) == (2, 2, 2, 2)
    tallies = [tally for _s, _d, _g, tally in e.latency_tallies()]
    assert sum(tally.count for tally in tallies) == 2
    # The sum as exported keeps what was first observed; corrections hold what was taken off.
    assert sum(tally.sum_us - tally.corrected_us for tally in tallies) == 2 * SLA - US
    # "over" was counted over SLA when the publish at DUE passed its deadline; lowered to
    # exactly the SLA it was in time after all, and that breach is withdrawn.
    assert sum(tally.breaches_withdrawn for tally in tallies) == 1


# -- snapshot cutoff: an entry entered at or before the cutoff is covered ----------------


def test_an_entry_arriving_after_a_snapshot_whose_cutoff_is_its_own_time_is_covered():
    assert boundaries.snapshot_covers(t(T0), t(T0))
    assert not boundaries.snapshot_covers(t(T0) + US, t(T0))
    e = engine()
    feed(e, snapshot("p", at(T0, H), T0))
    feed(e, entry("at", T0, "a"), entry("after", at(T0, US), "b"))
    f = e.snapshot(t(T0) + 2 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.latency.max_us, f.backlog.pending) == (1, H, 1)


def test_an_entry_on_a_cutoff_of_the_frontier_takes_that_snapshots_time_not_the_next():
    """Two snapshots: cutoff T0 published at T0 + 1 h, cutoff T0 + 2 h published at T0 + 3 h."""
    e = engine()
    feed(e, snapshot("p1", at(T0, H), T0), snapshot("p2", at(T0, 3 * H), at(T0, 2 * H)))
    ledger = e.studies["S"].dashboards["default"]
    assert ledger.earliest_cover("a", t(T0)) == t(T0) + H
    assert ledger.earliest_cover("a", t(T0) + US) == t(T0) + 3 * H
    assert ledger.earliest_cover("a", t(T0) + 2 * H) == t(T0) + 3 * H
    assert ledger.earliest_cover("a", t(T0) + 2 * H + US) is None
    # A third point: the newest cutoff is the last one, whichever index the second has.
    feed(e, snapshot("p3", at(T0, 5 * H), at(T0, 4 * H)))
    assert ledger.earliest_cover("a", t(T0) + 2 * H + US) == t(T0) + 5 * H
    assert ledger.earliest_cover("a", t(T0) + 4 * H + US) is None
    feed(e, entry("on-first", T0, "a"), entry("on-second", at(T0, 2 * H), "b"))
    feed(e, entry("past-all", at(T0, 4 * H + US), "c"))
    f = e.snapshot(t(T0) + 6 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.latency.max_us, f.backlog.pending) == (2, H, 1)


def test_a_record_publish_covers_its_records_entered_at_its_own_time_even_arriving_later():
    assert boundaries.record_publish_covers(t(T0), t(T0))
    e = engine()
    feed(e, records("p", T0, ["a"]), records("p2", at(T0, H), ["a"]))
    ledger = e.studies["S"].dashboards["default"]
    assert ledger.earliest_cover("a", t(T0)) == t(T0)
    assert ledger.earliest_cover("a", t(T0) + US) == t(T0) + H
    assert ledger.earliest_cover("a", t(T0) + H + US) is None
    assert ledger.earliest_cover("b", t(T0)) is None
    feed(e, records("p3", at(T0, 2 * H), ["a"]))  # a third time: the newest is the last
    assert ledger.earliest_cover("a", t(T0) + H + US) == t(T0) + 2 * H
    assert ledger.earliest_cover("a", t(T0) + 2 * H + US) is None
    feed(e, entry("at", T0, "a"), entry("after", at(T0, US), "a"))
    feed(e, entry("after-all", at(T0, 2 * H + US), "a"))
    f = e.snapshot(t(T0) + 3 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.latency.p50_us, f.latency.max_us) == (2, 0, H - US)
    assert f.backlog.pending == 1


def test_the_earliest_cover_is_the_earlier_of_a_snapshot_and_a_record_publish():
    e = engine()
    feed(e, snapshot("s", at(T0, 4 * H), at(T0, 3 * H)), records("r", at(T0, 2 * H), ["a"]))
    ledger = e.studies["S"].dashboards["default"]
    assert ledger.earliest_cover("a", t(T0)) == t(T0) + 2 * H  # both cover: the record's
    assert ledger.earliest_cover("b", t(T0)) == t(T0) + 4 * H  # the snapshot only
    # Entered after the record publish, before the cutoff: the snapshot only.
    assert ledger.earliest_cover("a", t(T0) + 2 * H + US) == t(T0) + 4 * H
    feed(e, records("r0", T0, ["a"]))  # an earlier record publish: two times for "a"
    assert ledger.earliest_cover("a", t(T0)) == t(T0)
    assert ledger.earliest_cover("a", t(T0) + US) == t(T0) + 2 * H
    assert ledger.earliest_cover("a", t(T0) + 2 * H + US) == t(T0) + 4 * H


# -- overdue: a pending entry older than the SLA (T − entered > SLA) ---------------------


@pytest.mark.parametrize("published_later", [False, True], ids=["never-published", "published-later"])
@pytest.mark.parametrize("entered", ["2026-01-05T00:00:00Z", "2026-01-05T00:59:59.999999Z"])
def test_a_pending_entry_exactly_the_sla_old_is_not_overdue_one_microsecond_later_it_is(
    entered, published_later
):
    """At the start and at the last microsecond of its hour bucket (whole buckets are counted
    at once when they lie wholly before T − SLA); never published, or published after T."""
    e = engine()
    feed(e, entry("e", entered, "a"), entry("fresh", at(entered, SLA), "b"))
    if published_later:
        feed(e, records("p", at(entered, 2 * SLA), ["a"]))
    for age, expected in ((SLA, 0), (SLA + US, 1)):
        as_of = t(entered) + age
        assert boundaries.overdue(t(entered), as_of, SLA) == bool(expected)
        backlog = e.snapshot(as_of).studies["S"].dashboards["default"].backlog
        assert (backlog.pending, backlog.overdue) == (2, expected)
        card = scorecards(e, as_of).all_studies.by_dimension["vendor"]["unassigned"]
        assert (card.pending, card.overdue) == (2, expected)
        last = tumbling_windows(e, as_of, 6 * H)[-1].studies["S"].dashboards["default"]
        assert (last.backlog.pending, last.backlog.overdue) == (2, expected)


def test_a_window_ending_exactly_the_sla_after_an_entry_does_not_count_it_overdue():
    e = engine(sla=6 * H)
    feed(e, entry("e", T0, "a"), entry("e2", at(T0, 6 * H + US), "b"))
    first, second = tumbling_windows(e, t(T0) + 6 * H + US, 6 * H)
    assert (first.end_us, first.studies["S"].dashboards["default"].backlog.overdue) == (
        t(T0) + 6 * H,
        0,
    )
    assert second.studies["S"].dashboards["default"].backlog.overdue == 1


# -- windows: [start, end); complete once end ≤ T ---------------------------------------


def test_a_publish_exactly_on_a_window_edge_counts_in_the_window_it_opens():
    edge = at(T0, 6 * H)
    e = engine()
    feed(e, entry("e", T0, "a"), records("p", edge, ["a"]))
    windows = tumbling_windows(e, t(edge), 6 * H)
    assert boundaries.in_window(t(edge), t(edge), t(edge) + 6 * H)
    assert [(w.start_us, w.complete) for w in windows] == [(t(T0), True), (t(edge), False)]
    counts = [w.studies["S"].dashboards["default"].latency.count for w in windows]
    assert counts == [0, 1]
    # At the window's end the entry is published: it is no longer pending there.
    backlogs = [w.studies["S"].dashboards["default"].backlog.pending for w in windows]
    assert backlogs == [0, 0]
    before = tumbling_windows(e, t(edge) - US, 6 * H)
    assert [w.complete for w in before] == [False]
    assert before[0].studies["S"].dashboards["default"].backlog.pending == 1


def test_a_publish_exactly_at_the_first_windows_start_counts_in_it():
    e = engine()
    feed(e, entry("e", T0, "a"), records("p", T0, ["a"]))  # latency 0, on the window's edge
    (window,) = tumbling_windows(e, t(T0) + H, DAY)
    assert (window.start_us, window.studies["S"].dashboards["default"].latency.count) == (t(T0), 1)
    since = tumbling_windows(e, t(T0) + H, 6 * H, since_us=t(T0))
    assert since[0].studies["S"].dashboards["default"].latency.count == 1
    # Windows start at the window holding --since: a publish on that window's start counts
    # even when the period starts one microsecond after it (docs/replay.md).
    (inside,) = tumbling_windows(e, t(T0) + H, 6 * H, since_us=t(T0) + US)
    assert (inside.start_us, inside.studies["S"].dashboards["default"].latency.count) == (t(T0), 1)


def test_a_breach_counts_in_the_window_holding_the_first_instant_after_its_deadline():
    """Over SLA from the instant after the deadline, when no publish came by it: a publish
    exactly at the deadline is in time, one a microsecond later is not."""
    e = engine()
    feed(
        e,
        *(entry(name, T0, name) for name in ("a", "b", "late", "due")),
        records("p-late", at(T0, SLA + US), ["late"]),
        records("p-due", at(T0, SLA), ["due"]),
    )
    passed = t(T0) + SLA + US

    def over_sla(as_of: int) -> list[tuple[int, int]]:
        return [
            (w.start_us - t(T0), w.studies["S"].dashboards["default"].latency.over_sla)
            for w in tumbling_windows(e, as_of, 6 * H)
        ]

    assert over_sla(passed)[-2:] == [(SLA - 6 * H, 0), (SLA, 3)]
    assert over_sla(passed - US)[-2:] == [(SLA - 6 * H, 0), (SLA, 0)]
    # Overdue at the window's instant (T): the two never published, from the same instant.
    last = tumbling_windows(e, passed, 6 * H)[-1].studies["S"].dashboards["default"].backlog
    assert (last.pending, last.overdue) == (2, 2)


def test_a_breach_on_the_first_windows_start_counts_in_it_before_since():
    """An entry of before the period whose deadline passed exactly at the start of the
    window holding --since: that window holds the breach."""
    e = engine()
    feed(e, entry("early", at(T0, -SLA - US), "a"), entry("n", at(T0, 2 * H), "n"))
    windows = tumbling_windows(e, t(T0) + 2 * H, 6 * H, since_us=t(T0) + H)
    assert [(w.start_us, w.studies["S"].dashboards["default"].latency.over_sla) for w in windows] == [
        (t(T0), 1)
    ]


def test_a_query_closed_within_one_window_and_reopened_later_is_open_in_the_later_windows():
    e = engine()
    feed(
        e,
        query("o", "Q", "opened", at(T0, H)),
        query("c", "Q", "closed", at(T0, 2 * H)),  # open and closed between two window ends
        query("r", "Q", "opened", at(T0, 7 * H)),
        query("x", "Q", "closed", at(T0, 13 * H)),
        query("o2", "Q", "opened", at(T0, 19 * H)),
    )
    windows = tumbling_windows(e, t(T0) + DAY, 6 * H)
    opened = [w.studies["S"].queries.awaiting_site for w in windows]
    assert opened == [0, 1, 0, 1, 1]
    ages = [w.studies["S"].queries.oldest_open_age_us for w in windows]
    assert ages == [None, 5 * H, None, 5 * H, 5 * H]


def test_an_entry_exactly_at_a_window_start_is_pending_at_that_instant():
    e = engine()
    feed(e, entry("e", T0, "a"))
    (window,) = tumbling_windows(e, t(T0), 6 * H)
    backlog = window.studies["S"].dashboards["default"].backlog
    assert (window.start_us, backlog.pending, backlog.oldest_age_us) == (t(T0), 1, 0)


# -- query aging: ≤ 7, ≤ 14, ≤ 30 days, more; "over 30 days" -----------------------------


@pytest.mark.parametrize("days", [7, 14, 30])
def test_a_query_open_exactly_n_days_is_in_the_lower_bucket_and_one_microsecond_more_is_not(days):
    e = engine()
    feed(e, query("o", "Q", "opened", T0))
    opened = t(T0)
    for age in (days * DAY, days * DAY + US):
        bucket = boundaries.aging_bucket(age)
        expected = tuple(int(i == bucket) for i in range(4))
        as_of = opened + age
        assert e.snapshot(as_of).studies["S"].queries.aging == expected
        # A window whose end is exactly this instant (and T one window later).
        windows = tumbling_windows(e, as_of + US, age, origin_us=opened)
        assert [(w.start_us, w.end_us) for w in windows] == [(opened, as_of), (as_of, as_of + age)]
        assert windows[0].studies["S"].queries.aging == expected
    assert boundaries.aging_bucket(days * DAY) + 1 == boundaries.aging_bucket(days * DAY + US)


def test_a_query_open_exactly_30_days_is_not_over_30_days_one_microsecond_more_is():
    e = engine()
    feed(e, query("o", "Q", "opened", T0))
    for age, expected in ((30 * DAY, 0), (30 * DAY + US, 1)):
        assert boundaries.over_30_days(age) == bool(expected)
        card = scorecards(e, t(T0) + age).all_studies.by_dimension["vendor"]["unassigned"]
        assert (card.open_queries, card.queries_over_30d) == (1, expected)


# -- late horizon: an event is late when its time is before W − retention ---------------


def test_an_event_exactly_at_the_horizon_is_not_late_one_microsecond_before_it_is():
    e = engine(retention=DAY)
    watermark = t(T0) + 3 * DAY
    feed(e, entry("newest", at(T0, 3 * DAY), "n"))
    horizon = watermark - DAY
    assert not boundaries.late(horizon, watermark, DAY) and boundaries.late(horizon - US, watermark, DAY)
    feed(e, entry("on", at(T0, 2 * DAY), "a"))
    assert e.counters.late == 0
    feed(e, entry("before", at(T0, 2 * DAY - US), "b"), query("q", "Q", "opened", at(T0, 2 * DAY - US)))
    assert e.counters.late == 2


# -- retention: what is forgotten exactly at the horizon, and what is kept ----------------


def _to_horizon(e: Engine, horizon: int, retention: int) -> None:
    """Move the watermark so that the horizon is exactly ``horizon`` (and prune)."""
    from schemas import format_timestamp

    feed(e, entry("watermark", format_timestamp(horizon + retention), "w", study="W"))


@pytest.mark.parametrize(("shift", "forgotten"), [(0, True), (-US, False)])
def test_a_published_hour_is_forgotten_once_it_and_its_publishes_end_at_the_horizon(shift, forgotten):
    e = engine(retention=DAY)
    feed(e, entry("e", T0, "a"), records("p", at(T0, H), ["a"]))
    _to_horizon(e, t(T0) + H + shift, DAY)
    latency = e.snapshot(t(T0) + 2 * H).studies["S"].dashboards["default"].latency
    assert latency.count == (0 if forgotten else 1)
    assert e.snapshot(t(T0) + 2 * H).studies["S"].dashboards["default"].backlog.pending == 0


@pytest.mark.parametrize(("shift", "kept"), [(0, True), (US, False)])
def test_a_snapshot_whose_cutoff_is_the_horizon_still_covers_a_late_entry(shift, kept):
    e = engine(retention=DAY)
    feed(e, snapshot("p", at(T0, H), T0))
    _to_horizon(e, t(T0) + shift, DAY)
    feed(e, entry("late", T0, "a"))
    f = e.snapshot(t(T0) + 2 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.backlog.pending) == ((1, 0) if kept else (0, 1))


@pytest.mark.parametrize(("shift", "kept"), [(0, True), (US, False)])
def test_a_record_publish_at_the_horizon_still_covers_a_late_entry(shift, kept):
    e = engine(retention=DAY)
    feed(e, records("p", T0, ["a"]), records("p2", at(T0, H), ["a"]))
    _to_horizon(e, t(T0) + shift, DAY)
    feed(e, entry("late", T0, "a"))
    f = e.snapshot(t(T0) + 2 * H).studies["S"].dashboards["default"]
    # Forgotten, the publish at T0 leaves the one an hour later to cover the entry.
    assert (f.latency.count, f.latency.max_us) == (1, 0 if kept else H)


@pytest.mark.parametrize(("shift", "forgotten"), [(0, True), (-US, False)])
def test_an_event_id_is_forgotten_once_its_hour_ends_at_the_horizon(shift, forgotten):
    e = engine(retention=DAY)
    feed(e, entry("e", at(T0, 30 * 60_000_000), "a"))
    _to_horizon(e, t(T0) + H + shift, DAY)
    again = e.apply(parse(entry("e", at(T0, 30 * 60_000_000), "a")))
    assert again == (ACCEPTED if forgotten else DUPLICATE)


@pytest.mark.parametrize(("shift", "forgotten"), [(US, True), (0, False)])
def test_a_closed_query_quiet_since_before_the_horizon_is_forgotten_at_the_horizon_kept(
    shift, forgotten
):
    e = engine(retention=DAY)
    feed(e, query("o", "Q", "opened", at(T0, -H)), query("c", "Q", "closed", T0))
    _to_horizon(e, t(T0) + shift, DAY)
    feed(e, query("a", "Q", "answered", at(T0, US)))
    # Forgotten, the query starts afresh and the answer is an orphan; kept, it is ignored.
    assert e.snapshot(t(T0) + H).orphan_query_events == (1 if forgotten else 0)


def parse(message: bytes):  # type: ignore[no-untyped-def]
    from schemas import parse_event

    return parse_event(message)


# -- scorecards: entered by T, published by T, waiting at T ---------------------------------


def test_a_scorecard_counts_entries_entered_by_t_and_published_ones_only_once_published():
    e = engine()
    feed(
        e,
        entry("on-t", at(T0, 2 * H), "a"),  # entered exactly at T
        entry("after-t", at(T0, 2 * H + US), "b"),  # one microsecond later: not yet
        # Two entries of one hour bucket, one published exactly at T (published, not
        # waiting), one after T (waiting): the bucket is read entry by entry.
        entry("published-at-t", at(T0, H), "c"),
        records("p", at(T0, 2 * H), ["c"]),
        entry("published-later", at(T0, H), "d"),
        records("p2", at(T0, 3 * H), ["d"]),  # published after T: waiting at T
        entry("never", at(T0, -2 * DAY), "e"),  # in an older bucket, never published: overdue
    )
    card = scorecards(e, t(T0) + 2 * H).all_studies.by_dimension["vendor"]["unassigned"]
    assert (card.entries, card.published, card.pending, card.overdue) == (4, 1, 3, 1)
    assert (card.p50_us, card.within_sla) == (H, 1)
    breaches = scorecards(e, t(T0) + 2 * H).sites_behind_breaches["S"]
    assert [(b.site, b.over_sla, b.entries) for b in breaches] == [("DE-101", 1, 4)]


def test_the_vendor_spread_is_the_population_deviation_of_the_shares_within_sla():
    from fractions import Fraction

    from streams.scorecards import Scorecard, vendor_spread

    cards = {
        "V1": Scorecard(published=2, within_sla=1),  # 1/2
        "V2": Scorecard(published=4, within_sla=4),  # 1
        "V3": Scorecard(published=4, within_sla=1),  # 1/4
        "unassigned": Scorecard(published=5, within_sla=0),  # no vendor: not in the spread
        "V4": Scorecard(),  # nothing published: no share
    }
    spread = vendor_spread(cards)
    assert (spread.vendors, spread.min_share, spread.max_share) == (
        3,
        Fraction(1, 4),
        Fraction(1),
    )
    # Mean 7/12; squared deviations 1/144, 25/144, 16/144: variance 42/432 = 7/72.
    assert spread.stdev_share == pytest.approx((7 / 72) ** 0.5, rel=1e-15)
    assert vendor_spread({"unassigned": Scorecard(published=1, within_sla=1)}).vendors == 0


def test_windows_age_queries_awaiting_data_management_in_each_bucket():
    e = engine()
    as_of = t(T0) + 40 * DAY
    # At each bucket's edges, a different number per bucket.
    ages = (7 * DAY, 7 * DAY + US, 14 * DAY, 14 * DAY + US, 20 * DAY, 30 * DAY, 30 * DAY + US)
    for i, age in enumerate(ages):
        feed(
            e,
            query(f"o{i}", f"Q{i}", "opened", at(T0, 40 * DAY - age)),
            query(f"a{i}", f"Q{i}", "answered", at(T0, 40 * DAY - age + US)),
        )
    feed(e, query("site", "QS", "opened", at(T0, 40 * DAY - 14 * DAY - US)))  # awaiting site
    window = tumbling_windows(e, as_of, DAY)[-1]
    queries = window.studies["S"].queries
    assert (queries.awaiting_site, queries.awaiting_dm) == (1, 7)
    assert queries.aging_by_state == ((0, 0, 1, 0), (1, 2, 3, 1))
    assert queries.aging == (1, 2, 4, 1)
    assert queries == e.snapshot(as_of).studies["S"].queries


# -- the record index and its pruning ---------------------------------------------------------


def test_pruning_an_hour_keeps_the_records_other_entries_reachable_by_a_later_publish():
    """A record with entries in an hour forgotten and in a later one: a publish of the record
    after the pruning still reaches the retained entries (the record's index keeps them)."""
    e = engine(retention=DAY)
    feed(
        e,
        entry("old", T0, "r"),
        records("p-old", at(T0, 10 * 60_000_000), ["r"]),  # the old hour, all published
        entry("kept-1", at(T0, 5 * H), "r"),
        entry("kept-2", at(T0, 5 * H + US), "r"),
        entry("lone-old", T0, "s"),
        records("p-s", at(T0, 10 * 60_000_000), ["s"]),
        entry("lone-new", at(T0, 5 * H), "s2"),
    )
    _to_horizon(e, t(T0) + 2 * H, DAY)  # the hour of T0 ends before the horizon: forgotten
    ledger = e.studies["S"].dashboards["default"]
    assert "s" not in ledger.by_record or ledger.by_record["s"] == ()
    feed(e, records("p-new", at(T0, 6 * H), ["r", "s2"]))
    f = e.snapshot(t(T0) + 6 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.backlog.pending) == (3, 0)


def test_a_bucket_is_kept_until_it_ends_even_when_all_its_entries_were_published():
    e = engine(retention=DAY)
    feed(e, entry("e", T0, "a"), records("p", at(T0, 10 * 60_000_000), ["a"]))
    _to_horizon(e, t(T0) + H - US, DAY)  # every publish is before the horizon, the hour is not
    latency = e.snapshot(t(T0) + H).studies["S"].dashboards["default"].latency
    assert latency.count == 1


def test_record_publish_times_before_the_horizon_are_forgotten_for_every_record():
    e = engine(retention=DAY)
    # In this order: each kind of record is looked at, whatever comes before it.
    feed(
        e,
        records("c1", T0, ["c"]), records("c2", at(T0, H), ["c"]), records("c3", at(T0, 3 * H), ["c"]),
        records("d1", T0, ["d"]), records("d2", at(T0, 3 * H), ["d"]), records("d3", at(T0, 4 * H), ["d"]),
        records("kept", at(T0, 3 * H), ["a"]),  # a lone time after the horizon: kept
        records("gone", T0, ["b"]),  # a lone time before the horizon: forgotten
    )  # fmt: skip
    _to_horizon(e, t(T0) + 2 * H, DAY)
    ledger = e.studies["S"].dashboards["default"]
    assert ledger.record_publishes == {
        "c": t(T0) + 3 * H,  # one time left: stored bare
        "d": [t(T0) + 3 * H, t(T0) + 4 * H],
        "a": t(T0) + 3 * H,
    }
    # Late entries: "b" finds no publish; "c" entered at T0 finds only the one kept.
    feed(e, entry("late-b", T0, "b"), entry("late-c", T0, "c"))
    f = e.snapshot(t(T0) + 4 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.latency.max_us, f.backlog.pending) == (1, 3 * H, 1)


def test_a_lone_record_publish_at_the_horizon_is_kept_one_microsecond_before_it_is_not():
    for shift, expected in ((0, {"a": t(T0)}), (US, {})):
        e = engine(retention=DAY)
        feed(e, records("p", T0, ["a"]))
        _to_horizon(e, t(T0) + shift, DAY)
        assert e.studies["S"].dashboards["default"].record_publishes == expected


def test_a_record_publish_covers_an_entry_at_its_own_time_when_it_is_the_only_one():
    e = engine()
    feed(e, records("p", T0, ["a"]))
    ledger = e.studies["S"].dashboards["default"]
    assert ledger.earliest_cover("a", t(T0)) == t(T0)
    assert ledger.earliest_cover("a", t(T0) + US) is None
    feed(e, records("p2", at(T0, H), ["a"]))
    assert ledger.earliest_cover("a", t(T0) + H) == t(T0) + H  # on the last of several


def test_a_forgotten_entry_is_no_longer_retained():
    e = engine(retention=DAY)
    feed(e, entry("e", T0, "a"), records("p", at(T0, 10 * 60_000_000), ["a"]))
    (view,) = e.last_tracked
    assert (view.record_id, view.entered_us, view.published_us) == ("a", t(T0), t(T0) + 10 * 60_000_000)
    _to_horizon(e, t(T0) + 2 * H, DAY)
    with pytest.raises(LookupError, match=r"^entry no longer retained \(pruned by the retention\)$"):
        _ = view.published_us


def test_entries_are_listed_with_their_record_and_time_in_arrival_order_within_an_hour():
    e = engine()
    times = (at(T0, 30 * 60_000_000), at(T0, 10 * 60_000_000), at(T0, 20 * 60_000_000))
    feed(e, *(entry(f"e{i}", at_, "r") for i, at_ in enumerate(times)))
    feed(e, entry("p-pending", at(T0, 50 * 60_000_000), "other"))
    feed(e, records("p", at(T0, H), ["r"]))  # publishes the three, filed in arrival order
    feed(e, entry("after", at(T0, 40 * 60_000_000), "r"))  # arrives published, same hour
    listed = [(v.record_id, v.entered_us, v.published_us) for v in e.entries("S", "default")]
    assert listed == [
        ("other", t(T0) + 50 * 60_000_000, None),
        *((("r", t(at_), t(T0) + H)) for at_ in times),
        ("r", t(T0) + 40 * 60_000_000, t(T0) + H),
    ]


# -- the frontier of snapshots ----------------------------------------------------------------


def test_an_earlier_snapshot_with_a_lower_cutoff_keeps_the_later_one_for_entries_above_it():
    e = engine()
    feed(e, snapshot("a", at(T0, 12 * H), at(T0, 10 * H)), snapshot("b", at(T0, 11 * H), at(T0, 8 * H)))
    feed(e, entry("late", at(T0, 9 * H), "x"), entry("low", at(T0, 7 * H), "y"))
    ledger = e.studies["S"].dashboards["default"]
    assert (ledger.snapshot_cutoffs, ledger.snapshot_times) == (
        [t(T0) + 8 * H, t(T0) + 10 * H],
        [t(T0) + 11 * H, t(T0) + 12 * H],
    )
    f = e.snapshot(t(T0) + 13 * H).studies["S"].dashboards["default"].latency
    assert (f.count, f.p50_us, f.max_us) == (2, 3 * H, 4 * H)


def test_a_snapshot_with_a_later_cutoff_and_an_earlier_time_replaces_the_ones_it_dominates():
    e = engine()
    feed(e, snapshot("a", at(T0, 12 * H), at(T0, 8 * H)), snapshot("b", at(T0, 13 * H), at(T0, 9 * H)))
    feed(e, snapshot("c", at(T0, 11 * H), at(T0, 10 * H)))  # dominates both
    ledger = e.studies["S"].dashboards["default"]
    assert (ledger.snapshot_cutoffs, ledger.snapshot_times) == ([t(T0) + 10 * H], [t(T0) + 11 * H])
    feed(e, entry("late", at(T0, 7 * H), "x"))
    assert e.snapshot(t(T0) + 14 * H).studies["S"].dashboards["default"].latency.max_us == 4 * H


def test_a_snapshot_covers_earlier_hours_whatever_order_their_entries_arrived_in():
    e = engine()
    feed(e, entry("later-hour", at(T0, 5 * H + 30 * 60_000_000), "a"), entry("earlier", at(T0, 3 * H), "b"))
    feed(e, snapshot("s", at(T0, 6 * H), at(T0, 5 * H + 10 * 60_000_000)))
    f = e.snapshot(t(T0) + 6 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.latency.max_us, f.backlog.pending) == (1, 3 * H, 1)


def test_a_snapshot_dominating_three_frontier_points_replaces_all_three():
    e = engine()
    for i in range(3):  # cutoffs 8, 9, 10 h published at 12, 13, 14 h
        feed(e, snapshot(f"s{i}", at(T0, (12 + i) * H), at(T0, (8 + i) * H)))
    feed(e, snapshot("dom", at(T0, 11 * H), at(T0, 11 * H)))
    ledger = e.studies["S"].dashboards["default"]
    assert (ledger.snapshot_cutoffs, ledger.snapshot_times) == ([t(T0) + 11 * H], [t(T0) + 11 * H])


# -- record publishes: a record published again and again, in any order ---------------------


def test_a_record_published_several_times_in_any_order_covers_each_entry_by_its_earliest():
    """Times of one record in the order 5 h, 1 h, 3 h, 3 h again, 7 h: each entry takes the
    earliest publish at or after its own time, whether it was pending or arrived later."""
    e = engine()
    feed(e, entry("before-all", T0, "r"))
    feed(e, records("p5", at(T0, 5 * H), ["r"]), records("p1", at(T0, H), ["r"]))
    feed(e, entry("after-1h", at(T0, H + US), "r"))  # pending: nothing at or after it but 5 h
    feed(e, records("p3", at(T0, 3 * H), ["r"]), records("p3-again", at(T0, 3 * H), ["r"]))
    feed(e, entry("after-5h", at(T0, 5 * H + US), "r"))  # pending until 7 h
    feed(e, records("p7", at(T0, 7 * H), ["r"]))
    feed(e, records("p6", at(T0, 6 * H), ["r"]))  # between the last two: inserted, not appended
    # Entries arriving last take the earliest publish at or after their own time, up to
    # exactly the last one.
    late = {"late-2h": 2 * H, "late-4h": 4 * H, "late-6h": 6 * H + US, "late-7h": 7 * H}
    feed(e, *(entry(name, at(T0, when), "r") for name, when in late.items()))
    ledger = e.studies["S"].dashboards["default"]
    assert ledger.record_publishes["r"] == [t(T0) + k * H for k in (1, 3, 5, 6, 7)]
    rows = sorted((v.entered_us - t(T0), v.published_us - t(T0)) for v in e.entries("S", "default"))
    assert rows == [
        (0, H), (H + US, 3 * H), (2 * H, 3 * H), (4 * H, 5 * H),
        (5 * H + US, 6 * H), (6 * H + US, 7 * H), (7 * H, 7 * H),
    ]  # fmt: skip


def test_a_record_named_twice_or_already_published_at_that_time_does_not_stop_the_others():
    e = engine()
    feed(e, *(entry(r, T0, r) for r in ("a", "b", "c", "d")))
    feed(e, records("p1", at(T0, H), ["a"]), records("p2", at(T0, 2 * H), ["c"]))
    feed(e, records("p2-again", at(T0, 3 * H), ["c"]))  # "c" now has two times
    # "a" again at the time it has (and named twice), then "b": "b" is reached.
    feed(e, records("p3", at(T0, H), ["a", "a", "b"]))
    # "c" at one of the times it has, then "d": "d" is reached.
    feed(e, records("p4", at(T0, 2 * H), ["c", "d"]))
    f = e.snapshot(t(T0) + 4 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.latency.p50_us, f.latency.max_us, f.backlog.pending) == (4, H, 2 * H, 0)


def test_an_entry_one_microsecond_after_its_records_only_publish_waits_for_the_next():
    e = engine()
    feed(e, records("p1", at(T0, H), ["q"]), entry("after", at(T0, H + US), "q"))
    feed(e, records("p2", at(T0, 2 * H), ["q"]))
    f = e.snapshot(t(T0) + 3 * H).studies["S"].dashboards["default"]
    assert (f.latency.count, f.latency.max_us, f.backlog.pending) == (1, H - US, 0)


def test_more_breakdown_groups_than_an_entry_key_can_hold_are_refused(monkeypatch):
    import streams.latency

    monkeypatch.setattr(streams.latency, "GROUP_MASK", 1)  # 2**32 − 1 groups in real keys
    ledger = streams.latency.DashboardLedger(SLA, ())
    assert [ledger.group((name,)).index for name in ("a", "b", "a")] == [0, 1, 0]
    with pytest.raises(ValueError, match=r"^too many breakdown groups for one study and dashboard$"):
        ledger.group(("c",))


# -- retention held back by a lagging input (docs/design.md, "Retention") ----------------


@pytest.mark.parametrize(("shift", "counted"), [(0, 1), (-US, 0)])
def test_event_ids_held_back_count_those_whose_hour_ends_at_the_own_horizon(shift, counted):
    """``edc_retention_held_back_event_ids``: ids the own horizon (W − retention) would have
    forgotten (their hour ends at or before it) that a lagging input keeps."""
    e = engine(retention=DAY)
    e.track_inputs()
    watermark = t(T0) + DAY + H + shift  # the own horizon: T0 + 1 h (+ shift)
    feed(e, entry("in-first-hour", T0, "a"), entry("in-second-hour", at(T0, H), "b"))
    feed(e, entry("newest", at(T0, DAY + H + shift), "n"))
    lagging = t(T0) - DAY  # an input a day behind: nothing is pruned
    e.note_inputs([(0, 0, watermark, False), (0, 1, lagging, False)], [2])
    assert e.held_back() == (watermark - lagging, counted)
    # The input catches up to one microsecond behind, then to the watermark: nothing held.
    e.note_inputs([(0, 1, watermark - US, False)])
    assert e.held_back()[0] == US
    e.note_inputs([(0, 1, watermark, False)])
    assert e.held_back() == (0, 0)


def test_nothing_is_held_back_without_retention_or_without_inputs_to_wait_for():
    kept = engine()
    kept.track_inputs()
    feed(kept, entry("e", T0, "a"))
    kept.note_inputs([(0, 0, t(T0), False), (0, 1, t(T0) - DAY, False)], [2])
    assert kept.held_back() == (0, 0)
    alone = engine(retention=DAY)  # not fed by a router: its own watermark leads
    feed(alone, entry("e", T0, "a"), entry("n", at(T0, 3 * DAY), "n"))
    assert alone.held_back() == (0, 0)
    fresh = engine(retention=DAY)
    fresh.track_inputs()
    assert fresh.held_back() == (0, 0)  # no event yet: no watermark
