"""The audit replay: reproducible, self-describing, never stopped by bad input."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit.replay.report import study_dict
from agents.cli import main
from agents.sim.simulator import Simulation
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

    import agents.audit.replay.feed as feed
    from streams.latency import TrackedEntry

    tracked_alive: list[int] = []

    class Watched(Engine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            tracked_alive.append(sum(type(o) is TrackedEntry for o in gc.get_objects()))

    monkeypatch.setattr(feed, "Engine", Watched)
    replay(tmp_path, "first")
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # the first run's cyclic state, left to the exit
    replay(tmp_path, "second")
    assert gc.isenabled()
    # None of the first run's tracked entries survive into the second.
    assert tracked_alive[1] == 0


def _pipelined_and_serial(source: Path, chunk_lines: int):
    from agents.audit.replay.pipeline import read_events_pipelined
    from agents.audit.replay.reader import InputSummary, read_events

    serial, piped = InputSummary(source="s"), InputSummary(source="p")
    with source.open("rb") as handle:
        expected = list(read_events(handle, serial))
    with source.open("rb") as handle:
        got = list(read_events_pipelined(handle, piped, chunk_lines=chunk_lines))
    return expected, got, serial, piped


@pytest.mark.parametrize("ending", [b"\n", b""], ids=["newline", "no-final-newline"])
def test_the_reading_process_yields_what_read_events_yields_across_chunk_boundaries(
    tmp_path, ending
):
    lines = SAMPLE.read_bytes().splitlines()[:40]
    bad = [payload for payload, _reason in INVALID]
    # Invalid and blank lines on both sides of chunk boundaries (chunks of 7 lines).
    mixed = [*lines[:6], bad[0], bad[1], b"", *lines[6:20], b"  ", *bad[2:], *lines[20:]]
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(b"\n".join(mixed) + ending)
    expected, got, serial, piped = _pipelined_and_serial(source, chunk_lines=7)
    assert got == expected
    assert piped.invalid == serial.invalid and len(piped.invalid) == len(bad)
    assert (piped.lines, piped.valid, piped.sha256) == (serial.lines, serial.valid, serial.sha256)
    assert [type(e) for e in got] == [type(e) for e in expected]


@settings(max_examples=25, deadline=None)
@given(
    picks=st.lists(st.integers(0, 39), max_size=60),
    bad=st.lists(st.tuples(st.integers(0, 60), st.sampled_from(INVALID)), max_size=4),
    chunk_lines=st.integers(1, 9),
)
def test_the_reading_process_drops_repeated_ids_as_first_of_each_id_does(
    tmp_path_factory, picks, bad, chunk_lines
):
    """Lines of the sample drawn with repeats, invalid lines among them, in chunks of any
    size (so repeats fall within and across chunks): the child drops what
    ``first_of_each_id`` drops, counts it, and still counts every valid line and event time."""
    from agents.audit.replay.coverage import EventTimes
    from agents.audit.replay.pipeline import read_events_pipelined, timed
    from agents.audit.replay.reader import InputSummary, first_of_each_id, read_events

    sample = SAMPLE.read_bytes().splitlines()[:40]
    lines = [sample[i] for i in picks]
    for position, (payload, _reason) in bad:
        lines.insert(min(position, len(lines)), payload)
    source = tmp_path_factory.mktemp("repeats") / "repeats.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    serial, piped = InputSummary(source="s"), InputSummary(source="p")
    period = (("entries", "queries", "publishes"), 1_767_225_600_000_000, 1_798_761_600_000_000)
    serial_times, piped_times = EventTimes(*period), EventTimes(*period)
    with source.open("rb") as handle:
        expected = list(first_of_each_id(timed(read_events(handle, serial), serial_times), serial))
    with source.open("rb") as handle:
        got = list(read_events_pipelined(
            handle, piped, times=piped_times, chunk_lines=chunk_lines, drop_repeated=True
        ))  # fmt: skip
    assert got == expected
    assert len({event.event_id for event in got}) == len(got)
    assert (piped.lines, piped.valid, piped.duplicates) == (
        serial.lines, serial.valid, serial.duplicates
    )  # fmt: skip
    assert piped.valid == len(got) + piped.duplicates
    assert piped_times.counts() == serial_times.counts()


def test_the_reading_process_handles_an_empty_file(tmp_path):
    source = tmp_path / "empty.jsonl"
    source.write_bytes(b"")
    expected, got, serial, piped = _pipelined_and_serial(source, chunk_lines=7)
    assert got == expected == []
    assert (piped.lines, piped.valid, piped.sha256) == (0, 0, serial.sha256)
    out = replay(tmp_path, "empty", source=source)
    assert json.loads((out / "report.json").read_text())["input"]["lines"] == 0


class _FailingLines:
    """A file whose reading fails after its first line (read with a size limit, as the replay
    reads: agents/audit/replay/lines.py)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.first = True

    def readline(self, size: int = -1) -> bytes:
        if self.first:
            self.first = False
            return SAMPLE.read_bytes().splitlines(keepends=True)[0]
        raise self.error


@pytest.mark.parametrize(
    ("error", "unreadable", "message"),
    [(OSError(5, "Input/output error"), True, "Input/output error"),
     (ZeroDivisionError("a bug"), False, "ZeroDivisionError: a bug")],
)  # fmt: skip
def test_a_failure_in_the_reading_process_is_raised_in_the_main_one(error, unreadable, message):
    import multiprocessing

    from agents.audit.replay.pipeline import ReaderFailed, read_events_pipelined
    from agents.audit.replay.reader import InputSummary

    with pytest.raises(ReaderFailed) as raised:
        list(read_events_pipelined(_FailingLines(error), InputSummary(source="x")))  # type: ignore[arg-type]
    assert raised.value.unreadable is unreadable
    assert message in str(raised.value)
    assert multiprocessing.active_children() == []


def test_an_unreadable_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    import agents.audit.replay.feed as feed

    real = feed.read_events_pipelined
    monkeypatch.setattr(
        feed,
        "read_events_pipelined",
        lambda handle, *args, **options: real(
            _FailingLines(OSError(5, "Input/output error")), *args, **options
        ),
    )
    assert main(["replay", "--input", str(SAMPLE), "--as-of", AS_OF, "--quiet", "--jobs", "1",
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"--input {SAMPLE}: Input/output error" in err
    assert len(err.strip().splitlines()) == 1


def test_the_reading_process_is_ended_when_the_main_one_stops_early(tmp_path):
    import multiprocessing

    from agents.audit.replay.pipeline import read_events_pipelined
    from agents.audit.replay.reader import InputSummary

    with SAMPLE.open("rb") as handle:
        events = read_events_pipelined(handle, InputSummary(source="x"), chunk_lines=5)
        next(events)
        assert len(multiprocessing.active_children()) == 1
        events.close()
    assert multiprocessing.active_children() == []


def test_run_json_counts_both_children_in_the_peak_memory(tmp_path):
    facts = json.loads((replay(tmp_path, "rss", "--jobs", "1") / "run.json").read_text())
    assert facts["peak_rss_mib_reader"] > 0
    assert facts["peak_rss_mib_tables_writer"] > 0
    added = max(0.0, facts["peak_rss_mib_tables_writer"] - facts["rss_mib_at_tables_fork"])
    assert facts["peak_rss_mib"] == round(
        facts["peak_rss_mib_main"] + facts["peak_rss_mib_reader"] + added, 1
    )


def test_a_failure_writing_the_tables_is_raised_with_its_traceback_and_the_child_reaped(tmp_path):
    import multiprocessing

    from agents.audit.replay.pipeline import TablesFailed, TablesWriter

    def build() -> dict[str, bytes]:
        raise ZeroDivisionError("a bug")

    tables = TablesWriter(tmp_path, build)
    try:
        with pytest.raises(TablesFailed, match="ZeroDivisionError: a bug"):
            tables.wait()
    finally:
        tables.stop()
    assert multiprocessing.active_children() == []


def test_the_tables_child_is_ended_when_the_main_process_fails_first(tmp_path, monkeypatch):
    import multiprocessing
    import time

    import agents.audit.replay.command as command
    import agents.audit.replay.feed as feed

    def slow_tables(*args):
        time.sleep(60)
        return b""

    def failing_render(*args):
        raise ZeroDivisionError("a bug in the main process")

    monkeypatch.setattr(feed, "entries_csv", slow_tables)
    monkeypatch.setattr(command, "render", failing_render)
    started = time.monotonic()
    with pytest.raises(ZeroDivisionError):
        replay(tmp_path, "x", "--jobs", "1")
    assert time.monotonic() - started < 30
    assert multiprocessing.active_children() == []


def test_with_other_threads_running_the_replay_stays_in_one_process_with_the_same_outputs(
    tmp_path,
):
    import threading

    forked = replay(tmp_path, "forked", "--jobs", "1")
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)  # e.g. a client's I/O thread
    other.start()
    try:
        single = replay(tmp_path, "single", "--jobs", "2")  # no worker is forked either
    finally:
        release.set()
        other.join()
    facts = json.loads((single / "run.json").read_text())
    assert facts["peak_rss_mib_tables_writer"] is None  # no tables child was forked
    assert facts["peak_rss_mib"] >= facts["peak_rss_mib_main"]
    for name in ("report.json", "entries.csv", "queries.csv", "report.html"):
        assert (single / name).read_bytes() == (forked / name).read_bytes(), name
