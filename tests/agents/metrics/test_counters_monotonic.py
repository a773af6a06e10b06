"""Every exported counter and histogram series never decreases, for any sequence of events.

Prometheus reads a decrease as a counter reset, and ``rate()`` (so every burn rate)
jumps. Late, earlier publishes and late query events are the hostile part: they
correct figures already exported (streams/tally.py says how without a decrease).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.metrics.collector import EngineCollector
from agents.metrics.definitions import LATENCY_BUCKETS_S, QUERY_BUCKETS_S
from agents.metrics.health import TopicHealth
from streams import Engine
from tests.streams.strategies import DAY, arrivals, engine_config

Series = tuple[str, tuple[tuple[str, str], ...]]


def _monotonic_samples(registry: CollectorRegistry) -> dict[Series, float]:
    """The samples of every counter and histogram: _total, _bucket, _count and _sum."""
    out: dict[Series, float] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        if family.type not in ("counter", "histogram"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@settings(max_examples=150, deadline=None)
@given(
    arrivals,
    st.sampled_from([None, 7 * DAY, 2 * DAY]),
    st.sampled_from([(), ("site", "country", "vendor")]),
)
def test_no_counter_or_histogram_series_ever_decreases(events, retention, breakdown):
    engine = Engine(
        engine_config(
            retention_us=retention,
            breakdown=breakdown,
            latency_bounds_s=LATENCY_BUCKETS_S,
            query_bounds_s=QUERY_BUCKETS_S,
        )
    )
    health = {t: TopicHealth() for t in ("edc.entries", "edc.queries", "dashboard.publishes")}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        EngineCollector(lambda: [engine], health, lambda: engine.watermark_us or 0, breakdown)
    )
    seen: dict[Series, float] = {}
    for event in events:
        engine.apply(event)
        now = _monotonic_samples(registry)
        for series, before in seen.items():
            assert series in now, f"{series} disappeared"
            assert now[series] >= before, f"{series} went from {before} to {now[series]}"
        seen = now
