"""The report's stage section: a vendor's breaches side by side by the side charged."""

from __future__ import annotations

from agents.audit.replay.stages_report import stages_csv, stages_section
from streams.config import StageConfig
from streams.stages import StageObservations

STAGES = (
    StageConfig("extract", "site"),
    StageConfig("transform", "FSP-A"),
    StageConfig("clean", "FSP-B"),
    StageConfig("load", "sponsor", budget_us=3_600_000_000),
)


def test_a_vendors_breaches_are_set_side_by_side_by_who_was_charged():
    observed = StageObservations(STAGES, sla_us=10)
    # Breakdown groups (site, country, vendor): breaches charged per stage.
    observed.breaches = {("s1", "DE", "FSP-A"): [1, 2, 3, 4], ("s2", "FR", ""): [0, 5, 0, 0]}
    section = stages_section({("S", "default"): observed}, 0, vendor_index=2)
    assert section is not None
    assert section["vendors"] == {"S": {
        "FSP-A": {"vendor": 2, "other_fsp": 3, "site": 1, "sponsor": 4},
        "unassigned": {"vendor": 0, "other_fsp": 5, "site": 0, "sponsor": 0},
    }}  # fmt: skip
    assert section["breaches_by_owner"] == {"FSP-A": 7, "FSP-B": 3, "site": 1, "sponsor": 4}
    assert stages_section({}, 0, vendor_index=2) is None  # no stages, no stage event: no section


def test_the_csv_has_a_row_per_stage_and_no_formula_from_a_study_id():
    observed = StageObservations(STAGES, sla_us=10)
    observed.durations = [[1], [2], [3], [4]]
    section = stages_section({("=HYPERLINK()", "default"): observed}, 2, vendor_index=None)
    assert section is not None and section["unknown_stage"] == 2 and section["vendors"] == {}
    rows = stages_csv(section).decode().splitlines()
    assert len(rows) == 1 + len(STAGES)
    assert not rows[1].startswith("=")
    assert rows[4].split(",")[3:6] == ["sponsor", "3600.000", "1"]
