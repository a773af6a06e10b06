"""The FSP scorecards in the replay's outputs: the report.json sections and scorecard.csv.

The figures come from ``streams.scorecards``; this module only rounds and lays
them out (report.html draws them in ``html._scorecard_sections``). Sites appear by
id in "sites behind the breaches"; no subject, record or query id is written here.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from agents.audit.replay.cells import number_cell, safe_cell, seconds_or_none
from streams.scorecards import Scorecard, Scorecards, ScorecardSet, Spread

CSV_COLUMNS = (
    "study", "dimension", "value", "entries", "published", "p50_s", "p95_s", "within_sla",
    "over_sla", "share_within_sla", "pending", "overdue", "open_queries", "queries_over_30d", "answered",
    "median_time_to_answer_s", "closed", "median_time_to_close_s",
)  # fmt: skip



def _share(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 4)


def card_dict(card: Scorecard) -> dict[str, Any]:
    return {
        "entries": card.entries,
        "published": card.published,
        "p50_s": seconds_or_none(card.p50_us),
        "p95_s": seconds_or_none(card.p95_us),
        "within_sla": card.within_sla,
        "over_sla": card.over_sla,
        "share_within_sla": _share(card.share_within_sla),
        "pending": card.pending,
        "overdue": card.overdue,
        "open_queries": card.open_queries,
        "queries_over_30d": card.queries_over_30d,
        "answered": card.answers,
        "median_time_to_answer_s": seconds_or_none(card.median_answer_us),
        "closed": card.closes,
        "median_time_to_close_s": seconds_or_none(card.median_close_us),
    }


def spread_dict(spread: Spread) -> dict[str, Any]:
    return {
        "vendors": spread.vendors,
        "min_share_within_sla": _share(spread.min_share),
        "max_share_within_sla": _share(spread.max_share),
        "stdev_share_within_sla": (
            None if spread.stdev_share is None else round(spread.stdev_share, 4)
        ),
    }


def _set_dict(cards: ScorecardSet) -> dict[str, Any]:
    return {
        **{
            dimension: {value: card_dict(card) for value, card in values.items()}
            for dimension, values in cards.by_dimension.items()
        },
        "vendor_spread": spread_dict(cards.vendor_spread),
    }


def report_sections(cards: Scorecards) -> dict[str, Any]:
    """The two top-level sections of report.json."""
    return {
        "scorecards": {
            "all_studies": _set_dict(cards.all_studies),
            "studies": {sid: _set_dict(s) for sid, s in cards.studies.items()},
        },
        "sites_behind_breaches": {
            sid: [
                {
                    "site": b.site,
                    "over_sla": b.over_sla,
                    "entries": b.entries,
                    "share_of_study_breaches": _share(b.share_of_study_breaches),
                }
                for b in sites
            ]
            for sid, sites in cards.sites_behind_breaches.items()
        },
    }


def scorecard_csv(sections: dict[str, Any]) -> bytes:
    """One row per scope, dimension and value; an empty study is all studies together."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    scorecards = sections["scorecards"]
    scopes = [("", scorecards["all_studies"]), *scorecards["studies"].items()]
    for study, by_dimension in scopes:
        for dimension in ("vendor", "country"):
            for value, card in by_dimension[dimension].items():
                writer.writerow([
                    safe_cell(study), dimension, safe_cell(value),  # from input: no formulas
                    *(number_cell(c, card[c]) for c in CSV_COLUMNS[3:]),
                ])  # fmt: skip
    return out.getvalue().encode()
