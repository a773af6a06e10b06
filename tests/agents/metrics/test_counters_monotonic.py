"""Every exported counter and histogram series never decreases, for any sequence of events.

Prometheus reads a decrease as a counter reset, and ``rate()`` (so every burn rate)
jumps. Late, earlier publishes and late query events are the hostile part: they
correct figures already exported (streams/tally.py says how without a decrease).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.metrics.collector import EngineCollector
from agents.metrics.definitions import LATENCY_BUCKETS_S, QUERY_BUCKETS_S
from agents.metrics.health import TopicHealth
from schemas import Event, PublishEvent, format_timestamp
from streams import Engine
from tests.streams.strategies import (
    DAY,
    _valid,
    arrivals,
    engine_config,
    instants,
    publishes,
    query_events,
    studies,
)

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


def _time(event: Event) -> int:
    return event.published_at if isinstance(event, PublishEvent) else event.occurred_at  # type: ignore[union-attr]


@st.composite
def _covering_publish(draw: st.DrawFn) -> PublishEvent:
    """A snapshot publish of everything entered by its time: it covers most entries."""
    published = draw(instants)
    return _valid(PublishEvent, {
        "schema": "dashboard.publish/1", "event_id": "p", "study_id": draw(studies),
        "dashboard": draw(st.sampled_from(["default", "ops"])),
        "published_at": format_timestamp(published), "data_cutoff": format_timestamp(published),
    })  # fmt: skip


@st.composite
def backwards(draw: st.DrawFn) -> list[Event]:
    """Publishes and query events newest first, with ids of their own: each one that
    arrives is earlier than the last, the corrections under test."""
    late = draw(
        st.lists(st.one_of(_covering_publish(), publishes(), query_events()), max_size=12)
    )
    late.sort(key=_time, reverse=True)
    return [replace(event, event_id=f"late-{i}") for i, event in enumerate(late)]


@settings(max_examples=150, deadline=None)
@given(
    arrivals,
    backwards(),
    st.sampled_from([None, 7 * DAY, 2 * DAY]),
    st.sampled_from([(), ("site", "country", "vendor")]),
)
def test_no_counter_or_histogram_series_ever_decreases(events, late, retention, breakdown):
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
    for event in [*events, *late]:
        engine.apply(event)
        now = _monotonic_samples(registry)
        for series, before in seen.items():
            assert series in now, f"{series} disappeared"
            assert now[series] >= before, f"{series} went from {before} to {now[series]}"
        seen = now
