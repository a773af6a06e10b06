"""FSP scorecards by hand (streams/scorecards.py): the sites behind a study's breaches, ranked,
and queries as of T. The brute force checks the rest on drawn events; these are the cases
few drawn examples hold (ties between sites, an orphan query before an opened one)."""

from __future__ import annotations

from fractions import Fraction

import orjson

from streams.scorecards import SiteBreaches, scorecards
from tests.streams.test_boundaries import DAY, SLA, T0, US, at, engine, feed, query, records, t


def entry_at(eid: str, site: str, when: str) -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": eid, "study_id": "S", "site_id": site,
        "subject_id": "x", "form_id": "VS", "record_id": eid, "entered_at": when,
    })  # fmt: skip


def test_sites_behind_breaches_rank_by_breaches_then_name_with_their_share_of_the_study():
    e = engine()
    # Site A: 1 of 5 entries over SLA; B: 2 of 2; C: 2 of 3. Ranked B, C (a tie, by name), A.
    plan = {"A": (1, 4), "B": (2, 0), "C": (2, 1)}  # site: (never published, published in time)
    for site, (late, in_time) in plan.items():
        for n in range(late + in_time):
            feed(e, entry_at(f"{site}{n}", site, T0))
        feed(e, *(records(f"p{site}{n}", at(T0, SLA), [f"{site}{n}"]) for n in range(in_time)))
    ranked = scorecards(e, t(T0) + 2 * DAY).sites_behind_breaches["S"]
    assert ranked == [
        SiteBreaches("B", 2, 2, Fraction(2, 5)),
        SiteBreaches("C", 2, 3, Fraction(2, 5)),
        SiteBreaches("A", 1, 5, Fraction(1, 5)),
    ]


def test_a_query_never_opened_by_t_leaves_the_next_ones_counted():
    e = engine()
    feed(
        e,
        query("orphan", "Q0", "answered", T0),  # never opened: no query yet
        query("o1", "Q1", "opened", T0),
        query("a1", "Q1", "answered", at(T0, DAY)),
        query("c1", "Q1", "closed", at(T0, 2 * DAY)),
        query("o2", "Q2", "opened", at(T0, US)),
    )
    card = scorecards(e, t(T0) + 3 * DAY).all_studies.by_dimension["vendor"]["unassigned"]
    assert (card.open_queries, card.answers, card.median_answer_us) == (1, 1, DAY)
    assert (card.closes, card.median_close_us) == (1, 2 * DAY)
