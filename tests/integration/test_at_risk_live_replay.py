"""What will breach next, on a real broker: live /metrics equal the replay's report as of the
same instant (issue 22).

Two studies over 70 hours: SCH-1 with a configured schedule (every 6 h) whose
publishes stop a day before the end (a schedule miss, certain breaches ahead),
LRN-2 without one (its cadence learned from snapshot publishes every 4 h). One
worker owns every shard, so its scrape is the whole of each figure; the replay
runs as of the newest event time, the worker's event clock.
"""

from __future__ import annotations

import json
from datetime import datetime

import orjson
import pytest

from agents.harness.processes import WorkerSubprocess, input_topics, scrape
from agents.harness.waiting import settled
from schemas import format_timestamp
from tests.integration.both_replays import export_and_replay_both_ways
from tests.integration.workload import BASE_US, HOUR_US, produce_sync

pytestmark = pytest.mark.integration
MINUTE_US = 60_000_000
STUDIES = {
    "SCH-1": {"sla": "8h", "schedules": {"default": {"every": "6h"}}},
    "LRN-2": {"sla": "30h"},
}


def messages() -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    end = BASE_US + 70 * HOUR_US  # a slot at 72 h is next: entries due before it breach
    for n in range(70 * 4):  # an entry every 15 minutes per study
        at = BASE_US + n * 15 * MINUTE_US + 7_000_001
        for study in STUDIES:
            out.append(("entries", orjson.dumps({
                "schema": "edc.entry/1", "event_id": f"e-{study}-{n}", "study_id": study,
                "site_id": "s1", "subject_id": "x", "form_id": "f",
                "record_id": f"r-{study}-{n}", "entered_at": format_timestamp(at),
            })))  # fmt: skip
    for k in range(1, 12):  # SCH-1: every 6 h until two days in, then silence
        at = BASE_US + k * 6 * HOUR_US
        if at > BASE_US + 48 * HOUR_US:
            break
        out.append(_snapshot("SCH-1", f"s-{k}", at, at - HOUR_US))
    for k in range(1, 18):  # LRN-2: every 4 h, a snapshot up to an hour before
        at = BASE_US + k * 4 * HOUR_US + 2 * MINUTE_US
        out.append(_snapshot("LRN-2", f"l-{k}", at, at - HOUR_US))
    out.append(
        _snapshot("LRN-2", "l-end", end, BASE_US)
    )  # the newest instant, covering nothing new
    out.append(("queries", orjson.dumps({  # every input topic has a message
        "schema": "edc.query/1", "event_id": "q-1", "query_id": "q-1", "study_id": "SCH-1",
        "site_id": "s1", "status": "opened", "occurred_at": format_timestamp(BASE_US),
    })))  # fmt: skip
    return out


def _snapshot(study: str, event_id: str, published: int, cutoff: int) -> tuple[str, bytes]:
    return ("publishes", orjson.dumps({
        "schema": "dashboard.publish/1", "event_id": event_id, "study_id": study,
        "published_at": format_timestamp(published), "data_cutoff": format_timestamp(cutoff),
    }))  # fmt: skip


def _seconds(timestamp: str | None) -> float | None:
    if timestamp is None:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _from_report(section: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for study, dashboards in section["studies"].items():
        for dashboard, d in dashboards.items():
            key = f"{study}/{dashboard}"
            for name, count in d["pending_by_time_left"].items():
                out[f"{key} {name}"] = count
            out[f"{key} earliest"] = _seconds(d["earliest_deadline"])
            out[f"{key} certain"] = d["certain_breaches"]
            out[f"{key} next"] = _seconds(d["next_publish"])
            out[f"{key} source"] = d["schedule"]
            out[f"{key} missed"] = (
                None if d["schedule_missed"] is None else int(d["schedule_missed"])
            )
    return out


def _from_scrape(samples: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for (name, labels), value in samples.items():
        lbl = dict(labels)
        key = f"{lbl.get('study')}/{lbl.get('dashboard')}"
        if name == "edc_pending_by_time_left_entries":
            out[f"{key} {lbl['time_left']}"] = int(value)
        elif name == "edc_pending_earliest_deadline_timestamp_seconds":
            out[f"{key} earliest"] = value
        elif name == "edc_certain_breaches_entries":
            out[f"{key} certain"] = int(value)
        elif name == "edc_publish_next_expected_timestamp_seconds":
            out[f"{key} next"] = value
            out[f"{key} source"] = lbl["source"]
        elif name == "edc_publish_schedule_missed":
            out[f"{key} missed"] = int(value)
    for key in {k.split(" ")[0] for k in out}:
        out.setdefault(f"{key} earliest", None)
        for field in ("certain", "next", "source", "missed"):
            out.setdefault(f"{key} {field}", None)
    return out


def test_live_at_risk_figures_equal_the_replay_as_of_the_same_instant(
    pipeline_env, tmp_path, monkeypatch
):
    env = {**pipeline_env, "EDC_LATENCY_STUDIES": json.dumps(STUDIES)}
    produced = messages()
    produce_sync(env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(env), produced)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    as_of = format_timestamp(BASE_US + 70 * HOUR_US)
    _export, report = export_and_replay_both_ways(tmp_path, "--as-of", as_of)
    want = _from_report(report["at_risk"])
    # The scenario says what it is meant to: a missed schedule with certain breaches ahead,
    # and a learned cadence.
    assert want["SCH-1/default missed"] == 1 and want["SCH-1/default certain"] > 0
    assert want["LRN-2/default source"] == "learned"
    with WorkerSubprocess(env) as worker:
        worker.wait_ready(timeout_s=120)
        got = settled(
            lambda: _from_scrape(scrape(worker.url)),
            lambda now: now == want,
            120,
            ignoring=(OSError,),
        )
        assert got == want
