"""What /metrics shows is the engine's state, with bounded labels and no personal data."""

from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.metrics.collector import EngineCollector
from agents.metrics.definitions import ALL_METRICS, LATENCY_BUCKETS_S, QUERY_BUCKETS_S
from agents.metrics.health import TopicHealth
from schemas import format_timestamp, parse_event
from schemas.compiled import compiled_modules, summary
from streams import Engine, EngineConfig

HOUR = 3_600_000_000
BASE = 1_767_225_600_000_000


def events():
    for i in range(60):
        yield {
            "schema": "edc.entry/1", "event_id": f"e{i}", "study_id": f"S{i % 3}",
            "site_id": f"SITE-{i % 4}", "subject_id": f"SUBJ-{i}", "form_id": "f",
            "record_id": f"REC-{i}", "entered_at": format_timestamp(BASE + i * HOUR),
            "country": "DE", "vendor": "FSP",
        }  # fmt: skip
    for s in range(3):
        yield {
            "schema": "dashboard.publish/1", "event_id": f"p{s}", "study_id": f"S{s}",
            "published_at": format_timestamp(BASE + 50 * HOUR),
            "data_cutoff": format_timestamp(BASE + 40 * HOUR),
        }  # fmt: skip
    yield {
        "schema": "edc.query/1", "event_id": "q", "query_id": "Q-1", "study_id": "S0",
        "site_id": "SITE-0", "status": "opened", "occurred_at": format_timestamp(BASE),
    }  # fmt: skip


def scrape(breakdown: tuple[str, ...]) -> tuple[str, Engine]:
    registry, engine = collector(breakdown)
    return generate_latest(registry).decode(), engine


def collector(breakdown: tuple[str, ...]) -> tuple[CollectorRegistry, Engine]:
    engine = Engine(
        EngineConfig(
            breakdown=breakdown, latency_bounds_s=LATENCY_BUCKETS_S, query_bounds_s=QUERY_BUCKETS_S
        )
    )
    for doc in events():
        engine.apply(parse_event(orjson.dumps(doc)))  # type: ignore[arg-type]
    health = {t: TopicHealth() for t in ("edc.entries", "edc.queries", "dashboard.publishes")}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        EngineCollector(lambda: [engine], health, lambda: engine.watermark_us, breakdown)
    )
    return registry, engine


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_histogram_and_backlog_equal_the_engine():
    text, engine = scrape(())
    got = samples(text)
    for study, dashboard, _group, tally in engine.latency_tallies():
        labels = (("dashboard", dashboard), ("study", study))
        assert got[("edc_data_latency_seconds_count", labels)] == tally.count
        assert got[("edc_entries_published_within_sla_total", labels)] == tally.within_sla
    for study, dashboard, _group, backlog in engine.backlog_by_group(engine.watermark_us):
        labels = (("dashboard", dashboard), ("study", study))
        assert got[("edc_backlog_entries", labels)] == backlog.pending
        assert got[("edc_backlog_oldest_age_seconds", labels)] == backlog.oldest_age_us / 1e6
    assert (
        got[
            (
                "edc_queries_open",
                (("age_bucket", "0-7d"), ("state", "awaiting_site"), ("study", "S0")),
            )
        ]
        == 1
    )


def test_every_defined_metric_is_exported_and_no_identifier_leaks():
    text, _engine = scrape(("site", "country", "vendor"))
    exported = {family.name for family in text_string_to_metric_families(text)}
    assert {spec.name for spec in ALL_METRICS} <= exported
    for secret in ("SUBJ-", "REC-", "Q-1", "e1", "p0"):
        assert f'"{secret}' not in text


def test_breakdown_labels_are_opt_in_and_bounded():
    plain, _ = scrape(())
    split, _ = scrape(("site",))
    plain_sites = {lbl for (_n, labels) in samples(plain) for lbl in labels if lbl[0] == "site"}
    split_sites = {lbl[1] for (_n, labels) in samples(split) for lbl in labels if lbl[0] == "site"}
    assert plain_sites == set()
    assert split_sites == {"SITE-0", "SITE-1", "SITE-2", "SITE-3"}


def test_build_info_and_readiness_and_stall_thresholds_are_exported():
    import subprocess
    import sys

    from agents.release import VERSION

    engine = Engine(EngineConfig(latency_bounds_s=LATENCY_BUCKETS_S, query_bounds_s=QUERY_BUCKETS_S))
    for doc in events():
        engine.apply(parse_event(orjson.dumps(doc)))  # type: ignore[arg-type]
    health = {t: TopicHealth() for t in ("edc.entries", "edc.queries", "dashboard.publishes")}
    registry = CollectorRegistry(auto_describe=False)
    ready = [False]
    registry.register(EngineCollector(
        lambda: [engine], health, lambda: engine.watermark_us, (),
        stall_after_s=lambda study, _dashboard: 3600.0 * (1 + int(study[1:])),
        ready=lambda: ready[0],
    ))  # fmt: skip
    got = samples(generate_latest(registry).decode())
    assert got[("edc_worker_ready", ())] == 0
    assert got[("edc_publish_stall_after_seconds", (("dashboard", "default"), ("study", "S2")))] == 3 * 3600
    (info,) = [dict(labels) for name, labels in got if name == "edc_build_info"]
    # `edc-latency --version` says the same, from the installed command.
    printed = subprocess.run(
        [sys.executable, "-m", "agents.cli", "--version"], capture_output=True, text=True, check=True
    ).stdout
    printed = " ".join(printed.split())  # argparse wraps a long version line
    assert info["version"] == VERSION != "unknown"
    assert printed == (f"edc-latency {info['version']} (Python {info['python']}, "
                       f"compiled core: {info['compiled']}; {summary()})")  # fmt: skip
    # Compiled where the install compiled it (setup.py; tests/schemas/test_compiled_loader.py).
    assert info["compiled"] == ("true" if "streams.engine" in compiled_modules() else "false")
    ready[0] = True
    assert samples(generate_latest(registry).decode())[("edc_worker_ready", ())] == 1
