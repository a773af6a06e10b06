"""The replay's audited period, its coverage box, formula-safe CSVs and a reader that never raises."""

from __future__ import annotations

import csv
import io
import json
import os

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit.framing import EXPORT_HEADER, parse_record, record_line
from agents.audit.replay.cells import safe_cell
from agents.audit.replay.reader import InputSummary, read_events
from agents.cli import main
from schemas import Rejection
from tests.agents.audit.test_replay import AS_OF, SAMPLE, replay

FUZZ_EXAMPLES = 20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 2_000


def far_entry(event_id: str, entered_at: str, record: str = "r-far") -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": event_id, "study_id": "ONC-301", "site_id": "s-1",
        "subject_id": "subj", "form_id": "vitals", "record_id": record, "entered_at": entered_at,
    })  # fmt: skip


def test_a_far_past_entry_is_reported_outside_the_period_not_windowed(tmp_path):
    source = tmp_path / "far.jsonl"
    source.write_bytes(
        SAMPLE.read_bytes() + far_entry("far-past", "0000-01-01T00:00:00Z") + b"\n"
        + far_entry("far-future", "2062-01-01T00:00:00Z", "r-future") + b"\n"
    )  # fmt: skip
    sample = json.loads((replay(tmp_path, "sample") / "report.json").read_text())
    far = json.loads((replay(tmp_path, "far", source=source) / "report.json").read_text())
    assert [w["start"] for w in far["windows"]] == [w["start"] for w in sample["windows"]]
    period = far["coverage"]["period"]
    # The 2062 entry is after the audited period: valid and counted, never invalid (a plain
    # JSONL line has no message timestamp to judge its time by: schemas/limits.py).
    assert period["events_before_period"] == 1 and period["events_after_as_of"] == 1
    assert far["input"]["invalid"] == sample["input"]["invalid"]
    assert far["input"]["valid"] == sample["input"]["valid"] + 2
    assert period["since"] == sample["coverage"]["period"]["since"]
    assert far["coverage"]["event_time"]["edc.entries"]["earliest"] == "0000-01-01T00:00:00Z"
    assert len((tmp_path / "far" / "report.json").read_bytes()) < 2 * len(
        (tmp_path / "sample" / "report.json").read_bytes()
    )


def test_the_sample_as_of_its_middle_counts_the_later_half_after_the_period(tmp_path):
    """Issue 21: events after --as-of are valid, counted after the period, in no figure."""
    from schemas.parse import parse_event

    middle_us = 1_767_744_000_000_000  # 2026-01-07, the sample runs 2026-01-05 to 01-09
    lines = SAMPLE.read_bytes().splitlines()
    times = [getattr(parse_event(line), "time_us", None) for line in lines]
    early = tmp_path / "early.jsonl"
    early.write_bytes(b"".join(
        line + b"\n" for line, t in zip(lines, times, strict=True) if t is None or t <= middle_us
    ))  # fmt: skip
    later = sum(1 for t in times if t is not None and t > middle_us)
    as_of = ["--as-of", "2026-01-07T00:00:00Z"]
    reports = {
        name: json.loads((replay(tmp_path, name, *as_of, *jobs, source=src) / "report.json").read_text())
        for name, src, jobs in (
            ("whole", SAMPLE, ["--jobs", "1"]), ("whole2", SAMPLE, ["--jobs", "2"]),
            ("early", early, ["--jobs", "1"]),
        )
    }  # fmt: skip
    whole, early_only = reports["whole"], reports["early"]
    assert later > 400
    assert whole["coverage"]["period"]["events_after_as_of"] == later
    assert whole["input"]["invalid"] == early_only["input"]["invalid"] == 4  # the sample's own
    assert not any(item["reason"].startswith("event time") for item in whole["invalid"])
    assert whole["input"]["valid"] == early_only["input"]["valid"] + later
    assert whole["studies"] == early_only["studies"]
    assert whole["windows"] == early_only["windows"]
    for key in ("input", "studies", "windows", "invalid", "coverage"):
        assert reports["whole2"][key] == whole[key], key


def test_since_starts_the_windows_and_too_many_windows_are_refused(tmp_path, capsys):
    out = replay(tmp_path, "s", "--since", "2026-01-07T00:00:00Z")
    report = json.loads((out / "report.json").read_text())
    assert report["windows"][0]["start"] == "2026-01-07T00:00:00Z"
    assert report["coverage"]["period"]["since_from"] == "--since"
    argv = ["replay", "--input", str(SAMPLE), "--as-of", AS_OF, "--out", str(tmp_path / "x")]
    assert main([*argv, "--since", "2010-01-01T00:00:00Z", "--quiet"]) == 2
    assert "replay_max_windows" in capsys.readouterr().err


def test_without_a_manifest_coverage_is_unknown_and_require_complete_exits_4(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["replay", "--input", str(SAMPLE), "--as-of", AS_OF, "--out", str(out), "--quiet"]
    assert main([*argv, "--require-complete"]) == 4
    assert "coverage unknown" in capsys.readouterr().err
    assert json.loads((out / "report.json").read_text())["coverage"]["status"] == "unknown"
    assert "Coverage unknown" in (out / "report.html").read_text()


FORMULA_STARTS = "=+-@\t\r"
ids = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)
hostile = st.builds(lambda c, rest: c + rest, st.sampled_from(list(FORMULA_STARTS)), ids)


@settings(max_examples=25, deadline=None)
@given(event_id=hostile, site=hostile, record=hostile, query_id=hostile)
def test_csv_cells_from_input_cannot_start_a_formula(
    tmp_path_factory, event_id, site, record, query_id
):
    tmp = tmp_path_factory.mktemp("csv")
    entry = orjson.loads(far_entry(event_id, "2026-01-05T10:00:00Z", record))
    entry["site_id"] = site
    query = {"schema": "edc.query/1", "event_id": "q-e", "query_id": query_id,
             "study_id": "=ONC", "site_id": site, "status": "opened",
             "occurred_at": "2026-01-05T11:00:00Z"}  # fmt: skip
    source = tmp / "hostile.jsonl"
    source.write_bytes(orjson.dumps(entry) + b"\n" + orjson.dumps(query) + b"\n")
    first, second = replay(tmp, "a", source=source), replay(tmp, "b", source=source)
    report = json.loads((first / "report.json").read_text())
    if report["input"]["valid"] < 2:
        return  # an id the contract rejects (e.g. blank): nothing reaches a CSV
    for name in ("entries.csv", "queries.csv", "windows.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
        rows = list(csv.reader(io.StringIO((first / name).read_text())))
        for row in rows[1:]:
            for cell in row:
                assert cell[:1] not in set(FORMULA_STARTS) or _number(cell), (name, cell)
    # The cell is the id made safe: a leading ', CRs written as LFs, and a ' before a
    # formula start behind a delimiter-like character inside it (issue 20: k;=2+3).
    written = next(csv.DictReader(io.StringIO((first / "entries.csv").read_text())))
    assert written["event_id"] == safe_cell(event_id)
    assert written["event_id"].startswith("'") and "\r" not in written["event_id"]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_the_bundled_sample_csvs_carry_no_prefix(tmp_path):
    out = replay(tmp_path, "s")
    assert b",'" not in (out / "entries.csv").read_bytes()
    assert b",'" not in (out / "queries.csv").read_bytes()


messages = st.one_of(st.none(), st.binary(max_size=200), st.text(max_size=200).map(str.encode))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(values=st.lists(messages, max_size=8), junk=st.lists(st.binary(max_size=80), max_size=4))
def test_the_replay_reader_turns_any_input_into_events_or_one_line_reasons(values, junk):
    lines = [EXPORT_HEADER, *(record_line("t", 0, n, 0, v) for n, v in enumerate(values))]
    lines.extend(line.replace(b"\n", b"") + b"\n" for line in junk)
    for framed in (lines, [(v or b"").replace(b"\n", b" ") + b"\n" for v in values]):
        summary = InputSummary(source="fuzz")
        events = list(read_events(framed, summary))
        assert summary.valid == len(events)
        for _line, reason in summary.invalid.listed:
            assert reason and "\n" not in reason
    for n, value in enumerate(values):
        parsed = parse_record(record_line("t", 0, n, 0, value), 1 << 20, None)
        assert isinstance(parsed, Rejection) or parsed.event_id
