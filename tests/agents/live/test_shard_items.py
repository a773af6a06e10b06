"""Shard-topic items a router never writes: skipped and counted, never half-applied.

Anyone with produce rights on the shard topic can write an item whose input-topic
index is out of range. Before, the engine applied its event and then the health
look-up raised IndexError: the event was in the figures but counted nowhere, and
the rest of the record was lost.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.live.shard_engines import Shard, ShardStore
from agents.live.shard_wire import encode, encode_batch
from agents.metrics.collector import EngineCollector
from agents.metrics.health import TopicHealth
from agents.settings import load_settings
from schemas import EntryEvent
from streams import Engine

BASE_US = 1_767_225_600_000_000


def _entry(i: int) -> EntryEvent:
    return EntryEvent(
        event_id=f"e{i}", study_id="S", site_id="s", subject_id="x", form_id="f",
        record_id=f"r{i}", entered_at=BASE_US,
    )  # fmt: skip


def _store() -> ShardStore:
    settings = load_settings(bootstrap_servers="127.0.0.1:1")
    return ShardStore(
        settings.engine_config(), settings.kafka_client_options(), settings.shard_topic,
        settings.checkpoint_topic, settings.input_topics,
        {topic: TopicHealth() for topic in settings.input_topics}, settings.app_id,
        on_fatal=lambda reason: None,
    )  # fmt: skip


@pytest.mark.parametrize("bad_index", [3, 7, -1, 2**40])
def test_an_item_with_an_out_of_range_topic_index_is_skipped_and_counted(bad_index):
    store = _store()
    shard = Shard(Engine(store.engine_config))
    items = [
        encode(_entry(0), 0, True),
        encode(_entry(1), bad_index, True),
        encode(_entry(2), 2, True),
    ]
    applied = store._apply(shard, 0, encode_batch(items), live=True)
    assert applied == 2  # the items around it still count
    assert shard.engine.counters.accepted == 2 and "e1" not in shard.engine.event_ids.seen
    assert store.checkpoint_health.skipped_shard_items == 1
    valid = {topic: health.outcomes.get("valid", 0) for topic, health in store.health.items()}
    assert sorted(valid.values()) == [0, 1, 1]
    store.shards[0] = shard
    samples = _scrape(store)
    assert samples["edc_shard_items_skipped_total"] == 1
    assert samples["edc_event_ids_evicted_total"] == 0


def test_event_ids_evicted_over_the_cap_are_exported():
    store = _store()
    shard = Shard(Engine(replace(store.engine_config, max_event_ids=1000)))
    store.shards[0] = shard
    payload = encode_batch([encode(_entry(i), 0, True) for i in range(1001)])
    assert store._apply(shard, 0, payload, live=True) == 1001
    evicted = 1001 - (1000 - (1000 >> 6))
    assert _scrape(store)["edc_event_ids_evicted_total"] == evicted
    del store.shards[0]  # the shard moves to another worker: the counter stays
    assert _scrape(store)["edc_event_ids_evicted_total"] == evicted


def _scrape(store: ShardStore) -> dict[str, float]:
    collector = EngineCollector(
        store.engines, store.health, lambda: BASE_US, checkpoint_health=store.checkpoint_health
    )
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }
