"""``replay --jobs N``: the same bytes for every N, whatever the input."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.audit.framing import EXPORT_HEADER, parse_plain, record_line
from agents.audit.replay import parallel
from agents.audit.replay.parallel import (
    JOB_BYTES,
    JobFailed,
    default_jobs,
    line_ranges,
    routed,
    run_sharded,
)
from agents.cli import main
from agents.live.shard_wire import route, shard_of
from schemas import PublishEvent, Rejection, format_timestamp
from schemas.events import as_document
from tests.streams.strategies import events, instants

OUTPUTS = (
    "report.json", "entries.csv", "queries.csv", "scorecard.csv", "windows.csv", "report.html"
)  # fmt: skip
STUDIES_TOML = '[studies."S1"]\nsla = "6h"\ndashboards = ["default", "ops"]\n'
# Lines a sponsor's export may hold besides events: each is rejected or skipped, never fatal.
ODD_LINES = [b"", b"   ", b"{not json", b'{"schema": "edc.entry/1", "event_id": "x"}', b"[1, 2]"]


def _line(event) -> bytes:  # type: ignore[no-untyped-def]
    return orjson.dumps(as_document(event))


# Events drawn from 40 ids: the same id often comes back with other content (a conflicting
# duplicate, possibly routed to another shard) or as an exact copy.
inputs = st.lists(
    st.one_of(events().map(_line), events().map(_line), st.sampled_from(ODD_LINES)),
    max_size=60,
).flatmap(lambda lines: st.just(lines) | st.permutations(lines + lines[: len(lines) // 3]))


def _replay(source: Path, out: Path, as_of: str, jobs: int, *extra: str) -> dict[str, bytes]:
    config = source.parent / "studies.toml"
    config.write_text(STUDIES_TOML)
    argv = ["replay", "--input", str(source), "--as-of", as_of, "--out", str(out), "--quiet",
            "--config", str(config), "--sla", "24h", "--jobs", str(jobs), *extra]  # fmt: skip
    assert main(argv) == 0
    return {name: (out / name).read_bytes() for name in OUTPUTS}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=inputs,
    as_of=instants,
    last_newline=st.booleans(),
    framed=st.booleans(),
    since_hours=st.none() | st.integers(0, 30 * 24),
)
def test_every_number_of_jobs_gives_the_same_bytes(
    tmp_path_factory, lines, as_of, last_newline, framed, since_hours
):
    """Plain JSONL or an export of format 2; the audited period from --since or the events."""
    directory = tmp_path_factory.mktemp("jobs")
    source = directory / "input.jsonl"
    if framed:
        records = [
            record_line("edc.entries", 0, offset, 1_767_225_600_000, line)
            for offset, line in enumerate(lines)
        ]
        source.write_bytes(EXPORT_HEADER + b"".join(records))
    else:
        source.write_bytes(b"\n".join(lines) + (b"\n" if last_newline else b""))
    as_of_text = format_timestamp(as_of)
    since = []
    if since_hours is not None:
        since = ["--since", format_timestamp(as_of - since_hours * 3_600_000_000)]
    one = _replay(source, directory / "one", as_of_text, 1, *since)
    for jobs in (2, 3):
        assert _replay(source, directory / f"jobs{jobs}", as_of_text, jobs, *since) == one, jobs
    facts = json.loads((directory / "jobs3" / "run.json").read_text())
    assert facts["jobs"] == 3 and len(facts["peak_rss_mib_jobs"]) == 3
    assert multiprocessing.active_children() == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=inputs, jobs=st.integers(1, 5))
def test_the_jobs_dedupe_keeps_exactly_the_first_valid_line_of_each_event_id(
    tmp_path_factory, lines, jobs
):
    """Each job compares the ids its hash gives it; together they mark every later line."""
    directory = tmp_path_factory.mktemp("dedupe")
    source = directory / "input.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    events = [parse_plain(line, 1 << 62, None) for line in lines if line.strip()]
    ids = [event.event_id for event in events if not isinstance(event, Rejection)]
    expected = {at for at, event_id in enumerate(ids) if event_id in ids[:at]}
    for index, span in enumerate(line_ranges(source, jobs)):
        parallel.parse_range(source, span, jobs, directory, index)
    for owner in range(jobs):
        parallel.mark_repeats(directory, owner, jobs)
    repeated, offsets = parallel.first_lines(directory, jobs)
    assert {base + at for later, base in zip(repeated, offsets, strict=True) for at in later} == expected
    assert offsets[0] == 0 and all(a <= b <= len(ids) for a, b in itertools.pairwise(offsets))


@given(text=st.lists(st.sampled_from([b"a", b"bb", b"", b"c" * 50]), max_size=30),
       parts=st.integers(1, 5))  # fmt: skip
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_line_ranges_cover_the_file_and_start_at_line_starts(tmp_path_factory, text, parts):
    path = tmp_path_factory.mktemp("ranges") / "f"
    content = b"\n".join(text)
    path.write_bytes(content)
    ranges = line_ranges(path, parts)
    assert len(ranges) == parts
    assert ranges[0][0] == 0 and ranges[-1][1] == len(content)
    for (_a, end), (start, _b) in itertools.pairwise(ranges):
        assert end == start
        assert start == 0 or start == len(content) or content[start - 1 : start] == b"\n"


@given(events=st.lists(events(), max_size=20), shards=st.integers(1, 5))
def test_the_jobs_route_every_event_as_the_live_router(events, shards):
    for event in events:
        expected = list(route(event, shards))
        assert [(shard, part) for shard, part, _counts in routed(event, shards)] == expected


@given(
    study=st.text(min_size=1, max_size=20),
    records=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=12),
    shards=st.integers(1, 5),
)
def test_a_publish_by_record_is_split_as_the_live_router_splits_it(study, records, shards):
    """Any text (non-ASCII, the separator itself): the study's checksum is continued."""
    publish = PublishEvent(event_id="p", study_id=study, published_at=0, record_ids=records)
    parts = routed(publish, shards)
    assert [(shard, part) for shard, part, _counts in parts] == list(route(publish, shards))
    assert [counts for _shard, _part, counts in parts] == [True] + [False] * (len(parts) - 1)


def test_a_conflicting_duplicate_on_another_shard_loses_to_the_first_line(tmp_path):
    """Same event id, another record: the live router may send it to another shard."""
    first = (b'{"schema":"edc.entry/1","event_id":"e1","study_id":"S","site_id":"s",'
             b'"subject_id":"x","form_id":"f","record_id":"r1",'
             b'"entered_at":"2026-01-01T00:00:00Z"}')  # fmt: skip
    source = tmp_path / "input.jsonl"
    # r1 and r4 land on different shards of 2 (crc32): the second line must not count.
    assert shard_of("S", "r1", 2) != shard_of("S", "r4", 2)
    source.write_bytes(first + b"\n" + first.replace(b'"r1"', b'"r4"') + b"\n")
    outputs = {jobs: _replay(source, tmp_path / f"j{jobs}", "2026-01-02T00:00:00Z", jobs)
               for jobs in (1, 2)}  # fmt: skip
    assert outputs[1] == outputs[2]
    report = json.loads(outputs[2]["report.json"])
    assert report["input"]["duplicates"] == 1
    assert report["studies"]["S"]["dashboards"]["default"]["backlog"]["pending"] == 1


@pytest.mark.parametrize("step", ["mark_repeats", "apply_shard"])
def test_a_failing_job_is_raised_with_its_traceback_and_every_job_reaped(
    tmp_path, monkeypatch, step
):
    """In the dedupe (before the second round with the main process) or in the engine."""
    import agents.audit.replay.parallel as sharded

    def failing(*args):
        raise ZeroDivisionError("a bug in a job")

    monkeypatch.setattr(sharded, step, failing)
    source = Path("agents/data/sample-events.jsonl")
    from agents.settings import load_settings

    config = load_settings("deploy/simulated-studies.toml").engine_config(retention=False)
    with pytest.raises(JobFailed, match="ZeroDivisionError: a bug in a job"):
        run_sharded(source, 2, tmp_path, config, 0, 86_400_000_000)
    assert multiprocessing.active_children() == []
    assert [p.name for p in tmp_path.iterdir()] == []  # the shards' files are removed


@pytest.mark.parametrize(
    ("event_id", "site", "third_row_id"),
    [
        # A quoted field may hold a newline: each event's rows are found by their lengths.
        ('e{n} "x",\ny', "s", b'"e3 ""x"",\ny"'),
        # Lengths in bytes, which differ from characters here.
        ("é{n}中😀", "sé", "é3中😀".encode()),
    ],
    ids=["quoted", "non-ascii"],
)
def test_ids_that_csv_quotes_or_encodes_keep_their_rows_in_order(
    tmp_path, event_id, site, third_row_id
):
    lines = [
        orjson.dumps({"schema": "edc.entry/1", "event_id": event_id.format(n=n), "study_id": "S",
                      "site_id": site, "subject_id": "x", "form_id": "f", "record_id": f"r{n}",
                      "entered_at": "2026-01-01T00:00:00Z"})
        for n in range(12)
    ]  # fmt: skip
    source = tmp_path / "input.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    outputs = [_replay(source, tmp_path / f"j{jobs}", "2026-01-02T00:00:00Z", jobs)
               for jobs in (1, 2, 3)]  # fmt: skip
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0]["entries.csv"].count(third_row_id) == 1


@pytest.mark.parametrize(
    ("input_bytes", "cores", "expected"),
    [
        (0, 4, 1),
        (JOB_BYTES - 1, 4, 1),
        (2 * JOB_BYTES - 1, 4, 1),  # below two jobs' worth: one engine
        (2 * JOB_BYTES, 4, 2),  # at the boundary: a second job
        (3 * JOB_BYTES, 4, 3),
        (10 * JOB_BYTES, 4, 4),  # never more jobs than cores
        (10 * JOB_BYTES, 1, 1),
    ],
)
def test_the_default_number_of_jobs_follows_the_input_size_and_the_cores(
    input_bytes, cores, expected
):
    assert default_jobs(input_bytes, cores) == expected


def test_without_jobs_a_small_input_runs_one_engine_and_a_large_one_is_split(
    tmp_path, monkeypatch
):
    source = Path("agents/data/sample-events.jsonl")
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)

    def jobs_of_a_run(out: str) -> int:
        argv = ["replay", "--input", str(source), "--as-of", "2026-02-01T00:00:00Z",
                "--out", str(tmp_path / out), "--quiet",
                "--config", "deploy/simulated-studies.toml"]  # fmt: skip
        assert main(argv) == 0
        return json.loads((tmp_path / out / "run.json").read_text())["jobs"]  # type: ignore[no-any-return]

    assert jobs_of_a_run("small") == 1
    # The same file counts as two jobs' worth once a job's share is half its size.
    monkeypatch.setattr(parallel, "JOB_BYTES", source.stat().st_size // 2)
    assert jobs_of_a_run("large") == 2
    for name in OUTPUTS:
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "large" / name).read_bytes()


def _shards_config():  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from agents.settings import load_settings
    from streams.scorecards import NEEDED_BREAKDOWN

    config = load_settings("deploy/simulated-studies.toml").engine_config(retention=False)
    return replace(config, breakdown=NEEDED_BREAKDOWN)  # as the replay's (command.py)


def test_the_tables_are_written_by_a_child_beside_the_report_and_the_jobs_files_removed(
    tmp_path,
):
    out = tmp_path / "out"
    argv = ["replay", "--input", "agents/data/sample-events.jsonl", "--as-of",
            "2026-02-01T00:00:00Z", "--out", str(out), "--quiet", "--jobs", "2",
            "--config", "deploy/simulated-studies.toml"]  # fmt: skip
    assert main(argv) == 0
    facts = json.loads((out / "run.json").read_text())
    writer, at_fork = facts["peak_rss_mib_tables_writer"], facts["rss_mib_at_tables_fork"]
    assert writer > 0 and at_fork > 0
    added = sum(max(0.0, peak - facts["rss_mib_at_jobs_fork"]) for peak in facts["peak_rss_mib_jobs"])
    assert facts["peak_rss_mib"] == round(
        facts["peak_rss_mib_main"] + added + max(0.0, writer - at_fork), 1
    )
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, "run.json", "stages.csv",
                                                            "visit_to_entry.csv"])  # fmt: skip
    assert multiprocessing.active_children() == []


def test_a_failing_tables_child_is_raised_with_its_traceback_and_everything_reaped(
    tmp_path, monkeypatch
):
    from agents.audit.replay import shard_tables
    from agents.audit.replay.parallel import wait_tables
    from agents.audit.replay.pipeline import TablesFailed

    def failing(*args):
        raise ZeroDivisionError("a bug in the tables")

    monkeypatch.setattr(shard_tables, "write_queries_csv", failing)
    result = run_sharded(
        Path("agents/data/sample-events.jsonl"), 2, tmp_path, _shards_config(), 0, 86_400_000_000
    )
    assert len(result.answers) == 2
    with pytest.raises(TablesFailed, match="ZeroDivisionError: a bug in the tables"):
        wait_tables(result)
    assert multiprocessing.active_children() == []
    assert [p.name for p in tmp_path.iterdir()] == ["entries.csv"]  # the shards' files removed


def test_the_tables_child_is_ended_when_the_main_process_fails_first(tmp_path, monkeypatch):
    import time

    import agents.audit.replay.command as command
    from agents.audit.replay import shard_tables

    def slow_tables(*args):
        time.sleep(60)

    def failing_render(*args):
        raise ZeroDivisionError("a bug in the main process")

    monkeypatch.setattr(shard_tables, "write_entries_csv", slow_tables)
    monkeypatch.setattr(command, "render", failing_render)
    out = tmp_path / "out"
    argv = ["replay", "--input", "agents/data/sample-events.jsonl", "--as-of",
            "2026-02-01T00:00:00Z", "--out", str(out), "--quiet", "--jobs", "2",
            "--config", "deploy/simulated-studies.toml"]  # fmt: skip
    started = time.monotonic()
    with pytest.raises(ZeroDivisionError):
        main(argv)
    assert time.monotonic() - started < 30
    assert multiprocessing.active_children() == []
    assert not [p for p in out.iterdir() if p.name.startswith(".replay-shards-")]
