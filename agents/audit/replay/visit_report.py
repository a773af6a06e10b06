"""Visit to entry in the replay's outputs: the report.json section and visit_to_entry.csv.

The figures come from ``streams.visits``; this module only rounds and lays them out
(report.html draws them with ``templates/visit_to_entry.html.j2``). Sites appear by id;
no subject or record id is written here.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from agents.audit.replay.cells import number_cell, safe_cell, seconds_or_none
from streams.visits import DIMENSIONS, VisitFigures, VisitReport

SECTION = "visit_to_entry"
FILE = "visit_to_entry.csv"
CSV_COLUMNS = (
    "study", "site", "country", "vendor", "entries", "mean_s", "p50_s", "p95_s", "max_s",
    "over_medium", "over_high",
)  # fmt: skip



def visit_dict(f: VisitFigures) -> dict[str, Any]:
    return {
        "entries": f.count,
        "mean_s": seconds_or_none(f.mean_us),
        "p50_s": seconds_or_none(f.p50_us),
        "p95_s": seconds_or_none(f.p95_us),
        "max_s": seconds_or_none(f.max_us),
        "over_medium": f.over_medium,
        "over_high": f.over_high,
    }


def visit_section(visits: VisitReport) -> dict[str, Any]:
    """The report.json section: thresholds, then per study its figures, by site, country
    and vendor, and the entries left out by reason."""
    return {
        SECTION: {
            "thresholds_s": {
                "medium": seconds_or_none(visits.medium_us),
                "high": seconds_or_none(visits.high_us),
            },
            "studies": {
                study_id: {
                    "all": visit_dict(study.all),
                    **{
                        dimension: {
                            value: visit_dict(figures)
                            for value, figures in study.by_dimension[dimension].items()
                        }
                        for dimension in DIMENSIONS
                    },
                    "without_visit_date": study.without_visit_date,
                    "entered_before_visit": study.entered_before_visit,
                }
                for study_id, study in visits.studies.items()
            },
        }
    }


def visit_csv(visits: VisitReport) -> bytes:
    """One row per study and (site, country, vendor): the grain every scope is merged from."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for study_id, study in visits.studies.items():
        for grain, figures in study.by_grain.items():
            row = visit_dict(figures)
            writer.writerow([
                safe_cell(study_id), *(safe_cell(part) for part in grain),  # input: no formulas
                *(number_cell(column, row[column]) for column in CSV_COLUMNS[4:]),
            ])  # fmt: skip
    return out.getvalue().encode()
