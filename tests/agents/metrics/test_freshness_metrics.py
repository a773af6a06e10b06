"""Data freshness and the uptime minutes on /metrics: a worker's shards merged give what one
engine fed every event answers (streams/freshness.py), with each dashboard's thresholds."""

from __future__ import annotations

from hypothesis import given, settings
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.live.shard_wire import route
from agents.metrics.collector import EngineCollector
from streams import Engine
from tests.streams import brute_force
from tests.streams.strategies import HOUR, arrivals, engine_config

STALL = {("S1", "ops"): 2 * HOUR}
STALE = {("S1", "default"): 3 * HOUR}


def _stall_s(study: str, dashboard: str) -> float:
    return STALL.get((study, dashboard), 6 * HOUR) / 1e6


def _stale_s(study: str, dashboard: str) -> float:
    return STALE.get((study, dashboard), 24 * HOUR) / 1e6


def _scraped(engines: list[Engine], now_us: int) -> dict[tuple[str, ...], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        EngineCollector(
            lambda: engines, {}, lambda: now_us, stall_after_s=_stall_s, stale_after_s=_stale_s
        )
    )
    out: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name in (
                "edc_data_freshness_seconds", "edc_data_stale_after_seconds",
                "edc_integration_minutes",
            ):  # fmt: skip
                labels = sample.labels
                key = (sample.name, labels["study"], labels["dashboard"], labels.get("verdict", ""))
                out[key] = sample.value
    return out


@settings(max_examples=60, deadline=None)
@given(arrivals)
def test_a_workers_shards_merged_export_what_one_engine_answers(events):
    events = brute_force.dedupe(events)  # as the router's shards see them: each id once
    shards = [Engine(engine_config(retention_us=None)) for _ in range(3)]
    for event in events:
        for shard, part in route(event, 3):
            shards[shard].apply(part)
    whole = Engine(engine_config(retention_us=None))
    whole.apply_all(events)
    clock = whole.deadline_clock()
    if clock is None:
        return
    figures = whole.freshness(
        clock, lambda s, d: (round(_stall_s(s, d) * 1e6), round(_stale_s(s, d) * 1e6))
    )
    expected: dict[tuple[str, ...], float] = {}
    for (study, dashboard), f in figures.items():
        if f.data_freshness_us is not None:
            expected[("edc_data_freshness_seconds", study, dashboard, "")] = (
                f.data_freshness_us / 1e6
            )
        expected[("edc_data_stale_after_seconds", study, dashboard, "")] = _stale_s(
            study, dashboard
        )
        for verdict, count in (("good", f.good), ("bad", f.bad), ("unknown", f.unknown)):
            expected[("edc_integration_minutes", study, dashboard, verdict)] = count
    assert _scraped(shards, clock) == expected
