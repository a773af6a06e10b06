"""The report's "where latency accrues": pipeline stages and breaches charged to owners.

From the engine's stage observations (``streams/stages.py``), merged over shards when
the replay runs in several processes. A report of studies without configured stages,
and without stage events, has no such section and no ``stages.csv``: replays of
producers that send no stage events are as they were.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from agents.audit.replay.cells import number_cell, safe_cell, seconds_or_none
from streams.stages import PipelineFigures, StageObservations, owner_kind

CSV_COLUMNS = (
    "study", "dashboard", "stage", "owner", "budget_s", "published", "p50_s", "p95_s",
    "max_s", "share_of_sla", "pending", "breaches_charged",
)  # fmt: skip
# A vendor's scorecard: its own stages (owner = the vendor), another FSP's, the sites', the
# sponsor platform's.
OWNER_SIDES = ("vendor", "other_fsp", "site", "sponsor")
UNASSIGNED = "unassigned"  # entries without a vendor, as the scorecards name them



def _share(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 4)


def merge_observations(
    parts: Iterable[tuple[str, str, StageObservations]],
) -> dict[tuple[str, str], StageObservations]:
    merged: dict[tuple[str, str], StageObservations] = {}
    for study_id, dashboard, observed in parts:
        into = merged.get((study_id, dashboard))
        if into is None:
            merged[(study_id, dashboard)] = observed
        else:
            into.merge(observed)
    return merged


def stages_section(
    observations: dict[tuple[str, str], StageObservations],
    unknown_stage: int,
    vendor_index: int | None,
) -> dict[str, Any] | None:
    """The ``stages`` section of report.json, or None when there is nothing to say.

    ``vendor_index``: where the vendor sits in the breakdown groups (None: not broken
    down by vendor, so no per-vendor scorecard)."""
    if not observations and not unknown_stage:
        return None
    studies: dict[str, dict[str, Any]] = {}
    by_owner: dict[str, int] = {}
    vendors: dict[str, dict[str, dict[str, int]]] = {}
    for (study_id, dashboard), observed in sorted(observations.items()):
        figures = PipelineFigures.of(observed)
        studies.setdefault(study_id, {})[dashboard] = {
            "stages": [
                {
                    "name": stage.name,
                    "owner": stage.owner,
                    "budget_s": seconds_or_none(stage.budget_us),
                    "published": stage.count,
                    "p50_s": seconds_or_none(stage.p50_us),
                    "p95_s": seconds_or_none(stage.p95_us),
                    "max_s": seconds_or_none(stage.max_us),
                    "share_of_sla": _share(stage.share_of_sla),
                    "pending": stage.pending,
                    "breaches_charged": stage.breaches_charged,
                }
                for stage in figures.stages
            ],
            "breaches": figures.breaches,
            "breaches_by_owner": figures.breaches_by_owner,
        }
        for owner, count in figures.breaches_by_owner.items():
            by_owner[owner] = by_owner.get(owner, 0) + count
        if vendor_index is None:
            continue
        cards = vendors.setdefault(study_id, {})
        for group, counts in figures.breaches_by_group.items():
            vendor = group[vendor_index]
            card = cards.setdefault(vendor or UNASSIGNED, dict.fromkeys(OWNER_SIDES, 0))
            for stage, count in zip(observed.stages, counts, strict=True):
                side = owner_kind(stage.owner)
                if side == "fsp":
                    side = "vendor" if stage.owner == vendor else "other_fsp"
                card[side] += count
    return {
        "unknown_stage": unknown_stage,
        "studies": studies,
        "breaches_by_owner": dict(sorted(by_owner.items())),
        "vendors": {study: dict(sorted(cards.items())) for study, cards in sorted(vendors.items())},
    }


def stages_csv(section: dict[str, Any]) -> bytes:
    """``stages.csv``: a row per study, dashboard and stage (the section's figures)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for study, dashboards in section["studies"].items():
        for dashboard, pipeline in dashboards.items():
            for stage in pipeline["stages"]:
                writer.writerow([
                    safe_cell(study), dashboard, stage["name"], stage["owner"],  # study: input
                    *(number_cell(c, stage[c]) for c in CSV_COLUMNS[4:]),
                ])  # fmt: skip
    return out.getvalue().encode()
