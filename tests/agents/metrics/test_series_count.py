"""The series count of docs/metrics.md: per study and (country, vendor) group, as exported."""

from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from agents.metrics.collector import EngineCollector
from agents.metrics.definitions import LATENCY_BUCKETS_S, QUERY_BUCKETS_S, VISIT_BUCKETS_S
from agents.metrics.health import TopicHealth
from schemas import format_timestamp, parse_event
from streams import Engine, EngineConfig, StudyConfig
from streams.config import StageConfig

BASE = 1_767_225_600_000_000
B, Q, V = len(LATENCY_BUCKETS_S), len(QUERY_BUCKETS_S), len(VISIT_BUCKETS_S)


def exported_series(
    studies: int,
    vendors: int,
    breakdown: tuple[str, ...],
    default_study: StudyConfig | None = None,
    visit_dates: bool = False,
) -> int:
    engine = Engine(
        EngineConfig(
            default_study=default_study or StudyConfig(),
            breakdown=breakdown,
            latency_bounds_s=LATENCY_BUCKETS_S,
            query_bounds_s=QUERY_BUCKETS_S,
            visit_bounds_s=VISIT_BUCKETS_S,
        )
    )
    visit = {"visit_date": "2026-01-01"} if visit_dates else {}
    n = 0
    for study in range(studies):
        for vendor in range(vendors):
            common = {"study_id": f"S{study}", "site_id": "X", "country": "DE",
                      "vendor": f"V{vendor}"}  # fmt: skip
            n += 1
            engine.apply(parse_event(orjson.dumps({  # type: ignore[arg-type]
                **common, "schema": "edc.entry/1", "event_id": f"e{n}", "subject_id": "s",
                "form_id": "f", "record_id": f"r{n}", "entered_at": format_timestamp(BASE + n),
                **visit,
            })))  # fmt: skip
            engine.apply(parse_event(orjson.dumps({  # type: ignore[arg-type]
                **common, "schema": "edc.query/1", "event_id": f"q{n}", "query_id": f"q{n}",
                "status": "opened", "occurred_at": format_timestamp(BASE + n),
            })))  # fmt: skip
    health = {t: TopicHealth() for t in ("edc.entries", "edc.queries", "dashboard.publishes")}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        EngineCollector(lambda: [engine], health, lambda: engine.watermark_us, breakdown)
    )
    text = generate_latest(registry).decode()
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_each_study_and_group_exports_the_documented_number_of_series():
    # Latency: histogram, corrections, within / over / withdrawn, backlog ×3; queries: open by
    # state × bucket, oldest age, two histograms, withdrawn durations ×2; what will breach next:
    # pending by time left ×5 and the earliest deadline (certain breaches, the next publish, the
    # schedule miss and the page minimum only with a schedule or a learned cadence: not here).
    per_group = (B + 3 + 1 + 3 + 3) + (8 + 1 + 2 * (Q + 3) + 2) + (5 + 1)  # D = 1
    # SLA, publish silence, publish stall threshold; data freshness, its threshold, and the
    # uptime minutes by verdict (good, bad, unknown); visits left out ×2
    per_study = 1 + 1 + 1 + 1 + 1 + 3 + 2
    assert per_group == 72  # docs/metrics.md: 27 + 6 + 39 (+ 1 with a schedule: certain breaches)
    base = exported_series(1, 1, ()) - (per_group + per_study)
    assert exported_series(3, 1, ()) == base + 3 * (per_group + per_study)
    breakdown = ("vendor", "country")
    assert exported_series(3, 4, breakdown) == base + 3 * (4 * per_group + per_study)
    # Visit to entry, for groups whose entries carry a visit date: histogram, over medium / high.
    per_visit_group = V + 3 + 2
    assert per_group + per_visit_group == 86  # docs/metrics.md, with visit dates
    assert exported_series(3, 4, breakdown, visit_dates=True) == base + 3 * (
        4 * (per_group + per_visit_group) + per_study
    )


def test_each_pipeline_stage_adds_its_documented_series_whatever_the_breakdown():
    # Per stage: its histogram (B buckets, +Inf, count, sum), pending, breaches charged; and
    # the budget where one is configured (docs/metrics.md).
    stages = (StageConfig("extract", "site"), StageConfig("transform", "FSP-A", 3_600_000_000),
              StageConfig("load", "sponsor"))  # fmt: skip
    staged = StudyConfig(stages={"default": stages})
    per_stage = B + 3 + 1 + 1
    assert per_stage == 22
    for breakdown, vendors in (((), 1), (("vendor", "country"), 4)):
        plain = exported_series(2, vendors, breakdown)
        assert exported_series(2, vendors, breakdown, staged) == plain + 2 * (3 * per_stage + 1)
