"""Visit to entry on /metrics: the engine's cumulative figures, with the breakdown's labels and caps."""

from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from agents.metrics.cardinality import CardinalityGate
from agents.metrics.collector import EngineCollector
from agents.metrics.definitions import VISIT_BUCKETS_S
from agents.metrics.health import CheckpointHealth, TopicHealth
from schemas import format_timestamp, parse_event
from streams import Engine, EngineConfig
from tests.agents.metrics.test_exporter import samples

DAY = 86_400_000_000
BASE = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def _entry(n: int, study: str, site: str, entered_us: int, visit_date: str | None) -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": f"e{n}", "study_id": study, "site_id": site,
        "subject_id": f"SUBJ-{n}", "form_id": "f", "record_id": f"REC-{n}",
        "entered_at": format_timestamp(entered_us), "country": "DE",
        **({"visit_date": visit_date} if visit_date else {}),
    })  # fmt: skip


def _scrape(breakdown: tuple[str, ...], gate: CardinalityGate | None = None) -> dict:
    engine = Engine(EngineConfig(breakdown=breakdown, visit_bounds_s=VISIT_BUCKETS_S))
    for n, (study, site, entered, visit) in enumerate([
        ("S1", "A", BASE + 5 * DAY, "2026-01-01"),  # exactly 5 days: not over medium
        ("S1", "A", BASE + 5 * DAY + 1, "2026-01-01"),  # over medium
        ("S1", "B", BASE + 7 * DAY + 1, "2026-01-01"),  # over high (and medium)
        ("S1", "B", BASE, None),  # left out: no visit date
        ("S1", "B", BASE, "2026-01-03"),  # left out: entered before its visit date
        ("S2", "C", BASE + DAY, "2026-01-01"),
    ]):  # fmt: skip
        engine.apply(parse_event(_entry(n, study, site, entered, visit)))  # type: ignore[arg-type]
    health = {t: TopicHealth() for t in ("edc.entries", "edc.queries", "dashboard.publishes")}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        EngineCollector(lambda: [engine], health, lambda: BASE + 8 * DAY, breakdown, gate)
    )
    return samples(generate_latest(registry).decode())


def test_visit_to_entry_is_exported_per_study_and_site_with_its_thresholds():
    got = _scrape(("site",))
    a, b = (("site", "A"), ("study", "S1")), (("site", "B"), ("study", "S1"))
    assert got[("edc_visit_to_entry_seconds_count", a)] == 2
    assert got[("edc_visit_to_entry_seconds_bucket", (("le", "432000"), *a))] == 1
    assert got[("edc_visit_to_entry_seconds_sum", a)] == (10 * DAY + 1) / 1e6
    assert got[("edc_visit_to_entry_over_threshold_total", (("level", "medium"), *a))] == 1
    assert got[("edc_visit_to_entry_over_threshold_total", (("level", "high"), *a))] == 0
    assert got[("edc_visit_to_entry_over_threshold_total", (("level", "high"), *b))] == 1
    left_out = "edc_visit_to_entry_left_out_total"
    assert got[(left_out, (("reason", "without_visit_date"), ("study", "S1")))] == 1
    assert got[(left_out, (("reason", "entered_before_visit"), ("study", "S1")))] == 1
    assert got[(left_out, (("reason", "without_visit_date"), ("study", "S2")))] == 0
    assert got[("edc_visit_to_entry_threshold_seconds", (("level", "medium"),))] == 432000
    assert got[("edc_visit_to_entry_threshold_seconds", (("level", "high"),))] == 604800


def test_visit_series_follow_the_cardinality_caps():
    # One study admitted (S1, first come), two groups at most: S2 and site B's third group stay out.
    got = _scrape(("site",), CardinalityGate((), max_studies=1, max_groups_per_study=1))
    studies = {dict(labels).get("study") for (name, labels) in got if "visit" in name}
    sites = {dict(labels).get("site") for (name, labels) in got if "visit_to_entry_seconds" in name}
    assert studies == {"S1", None}  # None: the thresholds, which carry no study
    assert sites == {"A"}


class _NoShards:
    """A worker's shard store while it owns no shard (as after a rebalance gave it none)."""

    checkpoint_health = CheckpointHealth()

    def engines(self) -> list[Engine]:
        return []

    def unrestored(self) -> list[int]:
        return []


def test_a_worker_that_owns_no_shard_exports_the_visit_thresholds_of_its_settings():
    """A setting of the worker, like edc_shard_partitions: every worker exports it, so a panel
    or alert comparing against it does not depend on which worker owns which shard."""
    from agents.live.endpoint import Endpoint
    from agents.live.readiness import Readiness
    from agents.live.stalls import StallWatch
    from agents.settings import Settings

    settings = Settings(visit_to_entry_medium="3d", visit_to_entry_high="10d")
    health = {t: TopicHealth() for t in ("edc.entries", "edc.queries", "dashboard.publishes")}
    endpoint = Endpoint(
        settings, _NoShards(), health, CardinalityGate((), 10, 10), Readiness(30.0),
        StallWatch(60.0),
    )  # type: ignore[arg-type]  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(endpoint.collector())
    got = samples(generate_latest(registry).decode())
    thresholds = {
        dict(labels)["level"]: value
        for (name, labels), value in got.items()
        if name == "edc_visit_to_entry_threshold_seconds"
    }
    assert thresholds == {"medium": 3 * 86_400, "high": 10 * 86_400}
    assert not [name for name, _labels in got if name == "edc_visit_to_entry_seconds_count"]
