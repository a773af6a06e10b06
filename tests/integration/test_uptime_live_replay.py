"""Freshness and uptime on the broker (issue 22): a worker's /metrics equals the replay's
report as of the same instant, the engine's clock (docs/kpis.md, "Freshness and uptime")."""

from __future__ import annotations

import pytest

from agents.harness.processes import WorkerSubprocess, input_topics, scrape
from agents.harness.waiting import settled
from agents.settings import load_settings
from schemas import format_timestamp, seconds_ms
from tests.integration.both_replays import export_and_replay_both_ways
from tests.integration.test_live_pipeline import wait_for_figures
from tests.integration.workload import engine_figures, expected_engine, produce_sync, workload

pytestmark = pytest.mark.integration


def _scraped_uptime(url: str) -> dict[tuple[str, str], dict[str, float]]:
    out: dict[tuple[str, str], dict[str, float]] = {}
    for (name, labels), value in scrape(url).items():
        lbl = dict(labels)
        if name == "edc_integration_minutes":
            out.setdefault((lbl["study"], lbl["dashboard"]), {})[f"minutes_{lbl['verdict']}"] = (
                value
            )
        elif name == "edc_data_freshness_seconds":
            out.setdefault((lbl["study"], lbl["dashboard"]), {})["data_freshness_s"] = value
    return out


def test_live_freshness_and_uptime_minutes_equal_the_replay_as_of_the_engine_clock(
    pipeline_env, tmp_path, monkeypatch
):
    messages = workload(seed=31)
    settings = load_settings()  # the worker reads the same environment: default thresholds
    engine = expected_engine(messages, settings.engine_config())
    clock = engine.deadline_clock()
    assert clock is not None
    figures = engine.freshness(clock, settings.freshness_thresholds_us)
    expected = {
        key: {
            "minutes_good": f.good, "minutes_bad": f.bad, "minutes_unknown": f.unknown,
            "data_freshness_s": seconds_ms(f.data_freshness_us),  # type: ignore[arg-type]
        }
        for key, f in figures.items()
    }  # fmt: skip
    # Both signals and both kinds of minutes occur, so the equality below says something.
    assert sum(e["minutes_good"] for e in expected.values()) > 0
    assert sum(e["minutes_bad"] for e in expected.values()) > 0
    with WorkerSubprocess(pipeline_env) as worker:  # one worker: it owns every shard
        worker.wait_ready()
        produce_sync(pipeline_env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(pipeline_env), messages)
        want, got = wait_for_figures([worker], engine_figures(engine))
        assert got == want
        live = settled(lambda: _scraped_uptime(worker.url), lambda now: now == expected, 30)
        assert live == expected
    for name, value in pipeline_env.items():
        monkeypatch.setenv(name, value)
    _export, report = export_and_replay_both_ways(tmp_path, "--as-of", format_timestamp(clock))
    uptime = report["uptime"]
    assert uptime["input_until"] == format_timestamp(clock)
    replayed = {
        (study, dashboard): {key: f[key] for key in expected[(study, dashboard)]}
        for study, dashboards in uptime["studies"].items()
        for dashboard, f in dashboards.items()
    }
    assert replayed == live
