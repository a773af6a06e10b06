"""The demo's table shows where latency accrues: each stage, its owner, and what it is charged."""

from __future__ import annotations

from agents.demo import _stage_rows


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_each_stage_is_a_line_with_its_owner_mean_waiting_and_breaches_summed_over_workers():
    extract = {"study": "ONC-301", "dashboard": "default", "stage": "extract"}
    safety = {"study": "ONC-301", "dashboard": "safety", "stage": "load"}
    samples = {
        ("edc_stage_duration_seconds_count", _labels(**extract)): 4.0,
        ("edc_stage_duration_seconds_sum", _labels(**extract)): 4 * 5400.0,
        ("edc_stage_duration_seconds_bucket", _labels(**extract, le="+Inf")): 4.0,
        ("edc_stage_pending_entries", _labels(**extract)): 7.0,
        ("edc_stage_breaches_charged", _labels(**extract, owner="FSP-Beta")): 3.0,
        ("edc_stage_pending_entries", _labels(**safety)): 1.0,
        ("edc_backlog_entries", _labels(study="ONC-301", dashboard="default")): 9.0,
    }
    assert sorted(_stage_rows(samples)) == [
        ("ONC-301/extract", "FSP-Beta", "1.5 h", 7, 3),
        ("ONC-301/safety/load", "", "—", 1, 0),
    ]
