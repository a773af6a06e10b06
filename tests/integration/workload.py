"""A small, deterministic workload for the integration tests, and the figures it must produce."""

from __future__ import annotations

import asyncio
import random

import orjson

from agents.harness.broker import produce_all
from agents.harness.processes import Samples
from schemas import Rejection, format_timestamp, parse_event
from streams import Engine, EngineConfig

BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
HOUR_US = 3_600_000_000
KINDS = ("entries", "queries", "publishes")


def workload(seed: int = 7, entries: int = 400) -> list[tuple[str, bytes]]:
    """(kind, value) in produce order: entries, record and snapshot publishes, queries,
    invalid messages and exact duplicates. Ends with a snapshot publish at the newest
    instant, so every shard's event clock agrees."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    studies = ("ONC-1", "CV-2")
    newest = BASE_US
    for i in range(entries):
        study = studies[i % 2]
        entered = BASE_US + rng.randrange(0, 72) * HOUR_US + rng.randrange(0, 3600) * 1_000_000
        newest = max(newest, entered)
        value = {
            "schema": "edc.entry/1", "event_id": f"ent-{i}", "study_id": study,
            "site_id": f"site-{i % 5}", "subject_id": f"subj-{i % 40}", "form_id": "vitals",
            "record_id": f"rec-{i % 150}", "entered_at": format_timestamp(entered),
            "country": ("DE", "FR", "US")[i % 3],
        }  # fmt: skip
        out.append(("entries", orjson.dumps(value)))
        if i % 9 == 0:
            out.append(("entries", orjson.dumps(value)))  # at-least-once redelivery
        if i % 40 == 39:
            published = entered + rng.randrange(1, 30) * HOUR_US
            newest = max(newest, published)
            records = [f"rec-{rng.randrange(150)}" for _ in range(12)]
            out.append(("publishes", orjson.dumps({
                "schema": "dashboard.publish/1", "event_id": f"pub-r-{i}", "study_id": study,
                "published_at": format_timestamp(published), "record_ids": records,
            })))  # fmt: skip
        if i % 25 == 0:
            opened = BASE_US + rng.randrange(0, 60) * HOUR_US
            out.append(("queries", orjson.dumps({
                "schema": "edc.query/1", "event_id": f"q-o-{i}", "query_id": f"q-{i}",
                "study_id": study, "site_id": "site-1", "status": "opened",
                "occurred_at": format_timestamp(opened),
            })))  # fmt: skip
            if i % 50 == 0:
                out.append(("queries", orjson.dumps({
                    "schema": "edc.query/1", "event_id": f"q-a-{i}", "query_id": f"q-{i}",
                    "study_id": study, "site_id": "site-1", "status": "answered",
                    "occurred_at": format_timestamp(opened + 5 * HOUR_US),
                })))  # fmt: skip
    out.append(("entries", b"{not json"))
    out.append(("entries", b'{"schema": "edc.entry/1", "event_id": "bad-ts", "study_id": "ONC-1", '
                           b'"site_id": "s", "subject_id": "x", "form_id": "f", "record_id": "r", '
                           b'"entered_at": "2026-01-01T10:00:00"}'))  # fmt: skip
    out.append(("publishes", b'{"schema": "dashboard.publish/1", "event_id": "bad-pub", '
                             b'"study_id": "CV-2", "published_at": "2026-01-02T00:00:00Z", '
                             b'"record_ids": []}'))  # fmt: skip
    for n, study in enumerate(studies):
        cutoff = BASE_US + (30 + 10 * n) * HOUR_US
        out.append(("publishes", orjson.dumps({
            "schema": "dashboard.publish/1", "event_id": f"pub-s-{study}", "study_id": study,
            "published_at": format_timestamp(newest), "data_cutoff": format_timestamp(cutoff),
        })))  # fmt: skip
    return out


def expected_engine(messages: list[tuple[str, bytes]], config: EngineConfig) -> Engine:
    engine = Engine(config)
    for _kind, value in messages:
        event = parse_event(value)
        if not isinstance(event, Rejection):
            engine.apply(event)
    return engine


def produce_sync(bootstrap: str, topics: dict[str, str], messages: list[tuple[str, bytes]]) -> None:
    asyncio.run(produce_all(bootstrap, topics, messages, linger_ms=5))


def engine_figures(engine: Engine) -> dict[str, float]:
    """The figures a scrape must show, named like the metric samples, as of the event clock."""
    assert engine.watermark_us is not None
    now = engine.watermark_us
    out: dict[str, float] = {}
    for study, dashboard, group, tally in engine.latency_tallies():
        key = f"{study}/{dashboard}"
        assert group == ()
        out[f"latency_count {key}"] = out.get(f"latency_count {key}", 0) + tally.count
        out[f"within_sla {key}"] = out.get(f"within_sla {key}", 0) + tally.within_sla
    for study, dashboard, _group, backlog in engine.backlog_by_group(now):
        key = f"{study}/{dashboard}"
        out[f"pending {key}"] = out.get(f"pending {key}", 0) + backlog.pending
        out[f"overdue {key}"] = out.get(f"overdue {key}", 0) + backlog.overdue
        out[f"oldest {key}"] = max(out.get(f"oldest {key}", 0), (backlog.oldest_age_us or 0) / 1e6)
    for study, _group, figures in engine.query_figures_by_group(now):
        out[f"awaiting_site {study}"] = figures.awaiting_site
        out[f"awaiting_dm {study}"] = figures.awaiting_dm
    return out


def scraped_figures(scrapes: list[Samples]) -> dict[str, float]:
    """The same figures from the scrapes of every worker: counts summed, ages maxed."""
    out: dict[str, float] = {}
    for samples in scrapes:
        for (name, labels), value in samples.items():
            lbl = dict(labels)
            key = f"{lbl.get('study')}/{lbl.get('dashboard')}"
            if name == "edc_data_latency_seconds_count":
                out[f"latency_count {key}"] = out.get(f"latency_count {key}", 0) + value
            elif name == "edc_entries_published_within_sla_total":
                out[f"within_sla {key}"] = out.get(f"within_sla {key}", 0) + value
            elif name == "edc_backlog_entries":
                out[f"pending {key}"] = out.get(f"pending {key}", 0) + value
            elif name == "edc_backlog_overdue_entries":
                out[f"overdue {key}"] = out.get(f"overdue {key}", 0) + value
            elif name == "edc_backlog_oldest_age_seconds":
                out[f"oldest {key}"] = max(out.get(f"oldest {key}", 0), value)
            elif name == "edc_queries_open":
                state_key = f"{lbl['state']} {lbl['study']}"
                out[state_key] = out.get(state_key, 0) + value
    return out
