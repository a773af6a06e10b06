"""Pipeline stages on a real broker: the live /metrics equal the replay's figures of the same
events, and a stage event of no configured stage is dead-lettered with its reason.

The producer behaves like a sponsor's (compressed, keyed, three partitions a topic), and the
topic carrying the stage events and publishes lags days behind the entries: the worker has
taken in five days of entries before the first stage event arrives.
"""

from __future__ import annotations

import asyncio
import json
from bisect import bisect_left
from pathlib import Path

import orjson
import pytest

from agents.cli import main
from agents.harness.processes import WorkerSubprocess, input_topics, scrape, total
from agents.harness.waiting import settled, wait_for
from agents.metrics.definitions import LATENCY_BUCKETS_S
from agents.sim.simulator import Simulation
from schemas import Rejection, format_timestamp, parse_event
from schemas.timestamps import US_PER_DAY
from streams.stages import UNKNOWN_STAGE_REASON
from tests.integration.test_codecs import produce_compressed
from tests.integration.test_live_pipeline import read_all

pytestmark = pytest.mark.integration

STUDIES = Path("deploy/simulated-studies.toml")  # the simulator's studies, as the demo's


def _live(samples: dict) -> dict[tuple[str, str, str], dict[str, float]]:
    out: dict[tuple[str, str, str], dict[str, float]] = {}
    for (name, labels), value in samples.items():
        if not name.startswith("edc_stage_"):
            continue
        lbl = dict(labels)
        row = out.setdefault((lbl["study"], lbl["dashboard"], lbl["stage"]), {})
        if name == "edc_stage_duration_seconds_bucket":
            row[f"le {lbl['le']}"] = value
        elif name not in ("edc_stage_budget_seconds", "edc_stage_duration_seconds_sum"):
            row[name] = value  # the sum is checked apart, as the report's share of the SLA
    return out


def _replayed(tmp_path: Path, values: list[bytes], as_of_us: int) -> dict:
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(value + b"\n" for value in values))
    out = tmp_path / "out"
    argv = ["replay", "--input", str(source), "--as-of", format_timestamp(as_of_us),
            "--out", str(out), "--quiet", "--config", str(STUDIES)]  # fmt: skip
    assert main(argv) == 0
    return orjson.loads((out / "report.json").read_bytes())["stages"]


def _expected_live(section: dict, durations_of: dict) -> dict[tuple[str, str, str], dict]:
    """What the worker must export, from the replay's section (and, for the buckets, the
    exact durations the replay's own engine holds)."""
    out = {}
    for study, dashboards in section["studies"].items():
        for dashboard, pipeline in dashboards.items():
            for stage in pipeline["stages"]:
                row: dict[str, float] = {
                    "edc_stage_duration_seconds_count": stage["published"],
                    "edc_stage_pending_entries": stage["pending"],
                    "edc_stage_breaches_charged": stage["breaches_charged"],
                }
                counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
                bounds = [round(b * 1_000_000) for b in LATENCY_BUCKETS_S]
                for duration in durations_of[(study, dashboard, stage["name"])]:
                    counts[bisect_left(bounds, duration)] += 1
                cumulative = 0
                for bound, count in zip([*LATENCY_BUCKETS_S, None], counts, strict=True):
                    cumulative += count
                    row["le +Inf" if bound is None else f"le {bound:g}"] = cumulative
                out[(study, dashboard, stage["name"])] = row
    return out


def test_live_stage_figures_equal_the_replay_and_unknown_stages_are_dead_lettered(
    pipeline_env, tmp_path
):
    simulation = Simulation(seed=4)
    env = {**pipeline_env, "EDC_LATENCY_STUDIES": json.dumps(simulation.study_configs_settings())}
    messages = list(simulation.events(5 * US_PER_DAY))
    unknown = orjson.dumps({
        "schema": "pipeline.stage/1", "event_id": "unknown-stage-1", "study_id": "ONC-301",
        "stage": "reshape", "completed_at": format_timestamp(simulation.start_us),
        "record_ids": ["r-1"],
    })  # fmt: skip
    messages.append(("publishes", unknown))
    events = [parse_event(value) for _kind, value in messages]
    assert not any(isinstance(event, Rejection) for event in events)
    as_of = max(event.time_us for event in events)  # type: ignore[union-attr]

    section = _replayed(tmp_path, [value for _kind, value in messages], as_of)
    assert section["unknown_stage"] == 1  # the replay has no router: counted, not applied
    # The exact durations behind the buckets: an engine of the replay's configuration.
    from agents.settings import load_settings
    from streams import Engine

    settings = load_settings(STUDIES)
    engine = Engine(settings.engine_config(retention=False))
    engine.apply_all(e for e in events)  # type: ignore[misc]
    durations_of = {
        (study, dashboard, stage.name): observed.durations[i]
        for study, dashboard, observed in engine.stage_observations(as_of)
        for i, stage in enumerate(observed.stages)
    }
    expected = _expected_live(section, durations_of)
    assert sum(row["edc_stage_breaches_charged"] for row in expected.values()) > 0

    with WorkerSubprocess(env) as worker:
        worker.wait_ready()
        bootstrap, topics = env["KAFKA_BOOTSTRAP_SERVERS"], input_topics(env)
        ahead = [(kind, value) for kind, value in messages if kind != "publishes"]
        behind = [(kind, value) for kind, value in messages if kind == "publishes"]
        asyncio.run(produce_compressed(bootstrap, topics, ahead, "zstd"))
        taken_in = wait_for(
            lambda: total(scrape(worker.url), "edc_messages_total") >= len(ahead),
            120,
            ignoring=(OSError,),
        )
        assert taken_in, "the worker never took in the entries and queries"
        asyncio.run(produce_compressed(bootstrap, topics, behind, "lz4"))
        samples = settled(
            lambda: scrape(worker.url),
            lambda now: _live(now) == expected and total(now, "edc_dead_letters_total") == 1,
            120,
            ignoring=(OSError,),
        )
        got = _live(samples or {})
        assert got == expected
        for (study, dashboard, stage), row in got.items():
            replayed = next(
                s for s in section["studies"][study][dashboard]["stages"] if s["name"] == stage
            )
            count = row["edc_stage_duration_seconds_count"]
            if count:  # the share of the SLA, from the histogram's sum, as the report has it
                labels = tuple(
                    sorted({"study": study, "dashboard": dashboard, "stage": stage}.items())
                )
                sla_s = settings.studies[study].sla
                share = samples[("edc_stage_duration_seconds_sum", labels)] / (count * sla_s)
                assert round(share, 4) == replayed["share_of_sla"]
    dead = read_all_sync(env["KAFKA_BOOTSTRAP_SERVERS"], env["EDC_LATENCY_TOPIC_DEADLETTER"])
    assert [(value, headers["reason"].decode()) for value, headers in dead] == [
        (unknown, UNKNOWN_STAGE_REASON)
    ]


def read_all_sync(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    return asyncio.run(read_all(bootstrap, topic))
