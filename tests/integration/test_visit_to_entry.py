"""Visit to entry on a real broker (issue 23): live /metrics equal the replay report.

Entries of two studies at three sites, with visit dates at and around the thresholds
(exactly 5 and 7 days, a microsecond over), entered before their visit date, without
one, and redelivered. Two workers split the shards; their scrapes, summed, must equal
what the replay of the export (and of the topics) reports per study and site.
"""

from __future__ import annotations

import random

import orjson
import pytest

from agents.harness.processes import Samples, WorkerSubprocess, input_topics, scrape
from agents.harness.waiting import settled
from schemas import format_timestamp
from streams import EngineConfig
from tests.integration.both_replays import export_and_replay_both_ways
from tests.integration.workload import BASE_US, HOUR_US, expected_engine, produce_sync

pytestmark = pytest.mark.integration
DAY_US = 24 * HOUR_US
VISIT_DAYS = ("2026-01-01", "2026-01-02", "2026-01-03")  # BASE_US is 2026-01-01T00:00:00Z


def visits(seed: int = 31) -> list[tuple[str, bytes]]:
    """In order of entry time, as an EDC sends them (so nothing is late for the workers)."""
    rng = random.Random(seed)
    out: list[tuple[int, str, bytes]] = []
    for n in range(240):
        day = n % 3
        offset = rng.choice([0, 5 * DAY_US, 7 * DAY_US, 5 * DAY_US + 1, 7 * DAY_US + 1,
                             -14 * HOUR_US, -15 * HOUR_US, rng.randrange(0, 10 * DAY_US)])  # fmt: skip
        entry = {
            "schema": "edc.entry/1", "event_id": f"v-{n}", "study_id": ("ONC-1", "CV-2")[n % 2],
            "site_id": f"site-{n % 3}", "subject_id": "x", "form_id": "f", "record_id": f"r-{n}",
            "entered_at": format_timestamp(BASE_US + day * DAY_US + offset),
            "country": ("DE", "FR")[n % 2 == 0 and n % 5 == 0], "vendor": "FSP-A",
        }  # fmt: skip
        if n % 7:
            entry["visit_date"] = VISIT_DAYS[day]
        entered = BASE_US + day * DAY_US + offset
        out.append((entered, "entries", orjson.dumps(entry)))
        if n % 11 == 0:
            out.append((entered, "entries", orjson.dumps(entry)))  # at-least-once redelivery
    out.sort(key=lambda item: item[0])
    return [(kind, value) for _t, kind, value in out]


def live_figures(scrapes: list[Samples]) -> dict[str, float]:
    """Per study and site: entries measured, over medium, over high; per study: left out."""
    out: dict[str, float] = {}
    for samples in scrapes:
        for (name, labels), value in samples.items():
            lbl = dict(labels)
            if name == "edc_visit_to_entry_seconds_count":
                key = f"entries {lbl['study']} {lbl['site']}"
            elif name == "edc_visit_to_entry_over_threshold_total":
                key = f"{lbl['level']} {lbl['study']} {lbl['site']}"
            elif name == "edc_visit_to_entry_left_out_total":
                key = f"{lbl['reason']} {lbl['study']}"
            else:
                continue
            out[key] = out.get(key, 0) + value
    return out


def report_figures(report: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for study, figures in report["visit_to_entry"]["studies"].items():
        for site, f in figures["site"].items():
            out[f"entries {study} {site}"] = f["entries"]
            out[f"medium {study} {site}"] = f["over_medium"]
            out[f"high {study} {site}"] = f["over_high"]
        out[f"without_visit_date {study}"] = figures["without_visit_date"]
        out[f"entered_before_visit {study}"] = figures["entered_before_visit"]
    return out


def engine_figures(messages: list[tuple[str, bytes]]) -> dict[str, float]:
    """What the scrapes must sum to: one engine fed every message (no retention)."""
    engine = expected_engine(
        messages, EngineConfig(breakdown=("site", "country", "vendor"), retention_us=None)
    )
    out: dict[str, float] = {}
    for study, ledger in engine.visit_ledgers():
        for (site, _country, _vendor), group in ledger.groups.items():
            for key, value in (("entries", group.tally.count), ("medium", group.over_medium),
                               ("high", group.over_high)):  # fmt: skip
                out[f"{key} {study} {site}"] = out.get(f"{key} {study} {site}", 0) + value
        out[f"without_visit_date {study}"] = ledger.without_visit_date
        out[f"entered_before_visit {study}"] = ledger.before_visit
    return out


def test_live_visit_to_entry_equals_the_replay_of_the_export_and_of_the_topics(
    pipeline_env, tmp_path, monkeypatch
):
    env = {**pipeline_env, "EDC_LATENCY_BREAKDOWN": "site,country,vendor"}
    messages = visits()
    expected = engine_figures(messages)
    # Every threshold and left-out case occurs in the workload.
    assert all(expected[k] for k in ("without_visit_date ONC-1", "entered_before_visit CV-2"))
    assert sum(v for k, v in expected.items() if k.startswith("high")) > 0
    with WorkerSubprocess(env) as a, WorkerSubprocess(env) as b:
        a.wait_ready(timeout_s=120)
        b.wait_ready(timeout_s=120)
        produce_sync(env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(env), messages)
        got = settled(
            lambda: live_figures([scrape(w.url) for w in (a, b)]),
            lambda figures: figures == expected,
            120,
            ignoring=(OSError,),
        )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _export, report = export_and_replay_both_ways(tmp_path, "--as-of", "2026-02-01T00:00:00Z")
    assert (got, report_figures(report)) == (expected, expected)
