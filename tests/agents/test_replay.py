"""The audit replay: reproducible, self-describing, never stopped by bad input."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import pytest

from agents.cli import main
from agents.replay.report import study_dict
from agents.simulator import Simulation
from schemas import Rejection, parse_event, parse_timestamp_us
from streams import Engine
from tests.schemas.test_parse import INVALID

SAMPLE = Path("agents/data/sample-events.jsonl")
STUDIES = Path("deploy/simulated-studies.toml")
AS_OF = "2026-01-09T00:00:00Z"


def replay(tmp_path: Path, name: str, *extra: str, source: Path = SAMPLE) -> Path:
    out = tmp_path / name
    argv = ["replay", "--input", str(source), "--as-of", AS_OF, "--out", str(out), "--quiet"]
    assert main([*argv, "--config", str(STUDIES), *extra]) == 0
    return out


def test_two_runs_give_byte_identical_outputs(tmp_path):
    first, second = replay(tmp_path, "a"), replay(tmp_path, "b")
    for name in ("report.json", "entries.csv", "queries.csv", "report.html"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert json.loads((first / "run.json").read_text())["version"]


def test_report_figures_equal_the_engine_and_say_what_they_were_computed_from(tmp_path):
    report = json.loads((replay(tmp_path, "r") / "report.json").read_text())
    from agents.settings import load_settings

    engine = Engine(load_settings(STUDIES).engine_config(retention=False))
    for line in SAMPLE.read_bytes().splitlines():
        event = parse_event(line)
        if not isinstance(event, Rejection):
            engine.apply(event)
    snapshot = engine.snapshot(parse_timestamp_us(AS_OF))
    assert report["studies"] == json.loads(
        json.dumps({sid: study_dict(f) for sid, f in snapshot.studies.items()})
    )
    import hashlib

    assert report["input"]["sha256"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert report["input"]["duplicates"] == engine.counters.duplicates > 0
    assert report["options"]["sla_s"]["ONC-301"] == 12 * 3600
    assert report["windows"][-1]["complete"] is False
    assert all(w["complete"] for w in report["windows"][:-1])


def test_every_invalid_kind_is_listed_with_line_and_reason_and_good_lines_still_count(tmp_path):
    source = tmp_path / "mixed.jsonl"
    good = [
        x
        for x in SAMPLE.read_bytes().splitlines()[:60]
        if not isinstance(parse_event(x), Rejection)
    ]
    bad = [payload for payload, _reason in INVALID]
    source.write_bytes(b"\n".join([*good[:25], b"", *bad, b"   ", *good[25:]]) + b"\n")
    out = replay(tmp_path, "m", source=source)
    report = json.loads((out / "report.json").read_text())
    listed = report["invalid"]
    assert [item["line"] for item in listed] == list(range(27, 27 + len(bad)))
    for item, (_payload, reason) in zip(listed, INVALID, strict=True):
        assert reason in item["reason"]
    assert report["input"]["valid"] == len(good)
    assert report["input"]["lines"] == len(good) + len(bad) + 2
    assert "Invalid inputs (" + str(len(bad)) in (out / "report.html").read_text()


def test_entries_csv_has_a_row_per_entry_and_dashboard(tmp_path):
    out = replay(tmp_path, "c")
    rows = list(csv.DictReader(io.StringIO((out / "entries.csv").read_text())))
    report = json.loads((out / "report.json").read_text())
    onc = [r for r in rows if r["study"] == "ONC-301"]
    assert {r["dashboard"] for r in onc} == {"default", "safety"}
    published = [r for r in onc if r["dashboard"] == "default" and r["state"] == "published"]
    assert (
        len(published) == report["studies"]["ONC-301"]["dashboards"]["default"]["latency"]["count"]
    )
    assert (
        max(float(r["latency_s"]) for r in published)
        == (report["studies"]["ONC-301"]["dashboards"]["default"]["latency"]["max_s"])
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "no/such/file.jsonl", "--as-of", AS_OF], "--input no/such/file.jsonl"),
        (["--input", str(SAMPLE), "--as-of", "2026-01-09 00:00"], "--as-of"),
        (["--input", str(SAMPLE), "--as-of", AS_OF, "--window", "soon"], "not a duration"),
        (["--input", str(SAMPLE), "--as-of", AS_OF, "--config", "missing.toml"], "missing.toml"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["replay", *argv, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_memory_per_event_stays_bounded_on_a_large_input(tmp_path):
    source = tmp_path / "big.jsonl"
    with source.open("wb") as handle:
        for _kind, value in Simulation(seed=3).events(120 * 86_400_000_000):
            handle.write(value + b"\n")
    lines = sum(1 for _ in source.open("rb"))
    tracemalloc.start()
    replay(tmp_path, "big", source=source)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Documented in docs/replay.md: the replay keeps every entry for entries.csv.
    assert peak / lines < 4000, f"{peak / lines:.0f} bytes per input line"


def test_an_earlier_replays_state_is_collected_by_the_next_and_the_collector_stays_on(
    tmp_path, monkeypatch
):
    import gc

    import agents.replay.command as command
    from streams.latency import TrackedEntry

    tracked_alive: list[int] = []

    class Watched(Engine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            tracked_alive.append(sum(type(o) is TrackedEntry for o in gc.get_objects()))

    monkeypatch.setattr(command, "Engine", Watched)
    replay(tmp_path, "first")
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # the first run's cyclic state, left to the exit
    replay(tmp_path, "second")
    assert gc.isenabled()
    # None of the first run's tracked entries survive into the second.
    assert tracked_alive[1] == 0
