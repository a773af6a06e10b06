"""Entries a month ahead of their publishes and queries, on a real broker (issue 21).

The issue's reproduction, smaller: a month of entries produced before the publishes
and queries of the same month, read by two workers at the default 7-day retention.
Before the low watermark, the shards pruned by the entries' event time and counted
the publishes and queries late (wrong latency counts, wrong open queries). Now the
live figures equal an engine with no retention, and so do both replays.
"""

from __future__ import annotations

import random

import orjson
import pytest

from agents.audit.replay.report import study_dict
from agents.harness.processes import WorkerSubprocess, input_topics, scrape, total
from schemas import format_timestamp
from streams import EngineConfig
from tests.integration.both_replays import export_and_replay_both_ways
from tests.integration.test_live_pipeline import wait_for_figures
from tests.integration.workload import (
    BASE_US,
    HOUR_US,
    engine_figures,
    expected_engine,
    produce_sync,
)

pytestmark = pytest.mark.integration
DAYS = 30


def month(seed: int = 5) -> list[tuple[str, bytes]]:
    """Every entry of the month first, then its publishes and queries, then a snapshot
    publish at the newest instant (so every shard's event clock agrees)."""
    rng = random.Random(seed)
    entries: list[tuple[str, bytes]] = []
    later: list[tuple[int, str, bytes]] = []
    studies = ("ONC-1", "CV-2", "NEU-3")
    newest = BASE_US
    for n in range(DAYS * 24):
        at = BASE_US + n * HOUR_US + rng.randrange(0, HOUR_US)
        study = studies[n % 3]
        record = f"rec-{n}"
        entries.append(("entries", orjson.dumps({
            "schema": "edc.entry/1", "event_id": f"e-{n}", "study_id": study, "site_id": "s1",
            "subject_id": "x", "form_id": "f", "record_id": record,
            "entered_at": format_timestamp(at),
        })))  # fmt: skip
        if n % 11 == 0:
            entries.append(entries[-1])  # an at-least-once redelivery
        if n % 4 != 3:
            published = at + rng.randrange(1, 72) * HOUR_US
            newest = max(newest, published)
            later.append((published, "publishes", orjson.dumps({
                "schema": "dashboard.publish/1", "event_id": f"p-{n}", "study_id": study,
                "published_at": format_timestamp(published), "record_ids": [record],
            })))  # fmt: skip
        if n % 6 == 0:
            query = {"schema": "edc.query/1", "query_id": f"q-{n}", "study_id": study,
                     "site_id": "s1"}  # fmt: skip
            later.append((at, "queries", orjson.dumps({
                **query, "event_id": f"qo-{n}", "status": "opened",
                "occurred_at": format_timestamp(at),
            })))  # fmt: skip
            if n % 12 == 0:
                closed = at + rng.randrange(1, 10 * 24) * HOUR_US
                newest = max(newest, closed)
                later.append((closed, "queries", orjson.dumps({
                    **query, "event_id": f"qc-{n}", "status": "closed",
                    "occurred_at": format_timestamp(closed),
                })))  # fmt: skip
    later.sort(key=lambda item: item[0])
    tail = [
        ("publishes", orjson.dumps({
            "schema": "dashboard.publish/1", "event_id": f"snap-{study}", "study_id": study,
            "published_at": format_timestamp(newest),
            "data_cutoff": format_timestamp(BASE_US + 2 * HOUR_US),
        }))
        for study in studies
    ]  # fmt: skip
    return entries + [(kind, value) for _t, kind, value in later] + tail


def test_entries_a_month_ahead_give_the_figures_of_an_engine_without_retention(
    pipeline_env, tmp_path, monkeypatch
):
    messages = month()
    unbounded = expected_engine(messages, EngineConfig(retention_us=None))
    expected = engine_figures(unbounded)
    produce_sync(pipeline_env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(pipeline_env), messages)
    with WorkerSubprocess(pipeline_env) as a, WorkerSubprocess(pipeline_env) as b:
        a.wait_ready(timeout_s=120)
        b.wait_ready(timeout_s=120)
        want, got = wait_for_figures([a, b], expected, timeout_s=180)
        scrapes = [scrape(w.url) for w in (a, b)]
        late = sum(total(s, "edc_late_events_total") for s in scrapes)
        idle = sum(total(s, "edc_input_partitions_idle_total") for s in scrapes)
        assert (late, idle, got) == (0, 0, want)
    for name, value in pipeline_env.items():
        monkeypatch.setenv(name, value)
    as_of = format_timestamp(unbounded.watermark_us)  # type: ignore[arg-type]
    _export, report = export_and_replay_both_ways(tmp_path, "--as-of", as_of)
    snapshot = unbounded.snapshot(unbounded.watermark_us)  # type: ignore[arg-type]
    assert report["studies"] == {sid: study_dict(f) for sid, f in snapshot.studies.items()}
