"""The replay's own boundaries, each at its edge and one microsecond past it: ``within_sla``
and ``overdue`` in entries.csv (the row walk, beside the engine's), and the audited period
(``--since`` and ``--as-of``) in the report's coverage."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import orjson
import pytest

from agents.cli import main
from schemas import format_timestamp, parse_timestamp_us

US = 1
H = 3_600_000_000
DAY = 24 * H
SLA = DAY  # the default study's
AS_OF = "2026-01-05T00:00:00Z"


def _entry(eid: str, at_us: int, record: str) -> dict[str, str]:
    return {
        "schema": "edc.entry/1", "event_id": eid, "study_id": "S", "site_id": "site",
        "subject_id": "subj", "form_id": "VS", "record_id": record,
        "entered_at": format_timestamp(at_us),
    }  # fmt: skip


def _publish(eid: str, at_us: int, records: list[str]) -> dict[str, object]:
    return {
        "schema": "dashboard.publish/1", "event_id": eid, "study_id": "S",
        "published_at": format_timestamp(at_us), "record_ids": records,
    }  # fmt: skip


def replay(tmp_path: Path, documents: list[dict], *extra: str, as_of: str = AS_OF) -> int:
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in documents))
    argv = ["replay", "--input", str(source), "--as-of", as_of, "--out", str(tmp_path / "out")]
    return main([*argv, "--quiet", *extra])


def rows(tmp_path: Path) -> dict[str, dict[str, str]]:
    text = (tmp_path / "out" / "entries.csv").read_text()
    return {row["event_id"]: row for row in csv.DictReader(io.StringIO(text))}


def period(tmp_path: Path) -> dict[str, object]:
    return json.loads((tmp_path / "out" / "report.json").read_text())["coverage"]["period"]


def test_entries_csv_says_within_sla_at_exactly_the_sla_and_overdue_only_past_it(tmp_path):
    as_of = parse_timestamp_us(AS_OF)
    published = as_of - H
    documents = [
        _entry("exact", published - SLA, "a"),  # latency exactly the SLA
        _entry("over", published - SLA - US, "b"),  # one microsecond more
        _publish("p", published, ["a", "b"]),
        _entry("due", as_of - SLA, "c"),  # pending, exactly the SLA old at --as-of
        _entry("late", as_of - SLA - US, "d"),  # one microsecond older
    ]
    assert replay(tmp_path, documents) == 0
    by_id = rows(tmp_path)
    assert (by_id["exact"]["within_sla"], by_id["exact"]["state"]) == ("true", "published")
    assert (by_id["over"]["within_sla"], by_id["over"]["state"]) == ("false", "published")
    assert by_id["exact"]["latency_s"] == "86400.000"
    assert [by_id[e]["state"] for e in ("due", "late")] == ["pending", "overdue"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    latency = report["studies"]["S"]["dashboards"]["default"]["latency"]
    assert (latency["count"], latency["within_sla"]) == (2, 1)


def test_an_event_exactly_at_since_is_in_the_period_and_one_microsecond_before_is_not(tmp_path):
    since = parse_timestamp_us("2026-01-03T00:00:00Z")
    documents = [_entry("on", since, "a"), _entry("before", since - US, "b")]
    assert replay(tmp_path, documents, "--since", format_timestamp(since)) == 0
    p = period(tmp_path)
    assert (p["since"], p["events_before_period"]) == ("2026-01-03T00:00:00Z", 1)
    windows = json.loads((tmp_path / "out" / "report.json").read_text())["windows"]
    assert windows[0]["start"] == "2026-01-03T00:00:00Z"


def test_an_event_exactly_at_as_of_is_in_the_report_and_one_microsecond_after_is_not(tmp_path):
    as_of = parse_timestamp_us(AS_OF)
    documents = [_entry("on", as_of, "a"), _entry("after", as_of + US, "b")]
    assert replay(tmp_path, documents) == 0
    p = period(tmp_path)
    assert (p["events_after_as_of"], p["since"], p["since_from"]) == (1, AS_OF, "first event")
    # entries.csv lists the entries entered by --as-of: that one, pending at 0 s old.
    assert [(e, r["state"]) for e, r in rows(tmp_path).items()] == [("on", "pending")]


def test_since_equal_to_as_of_is_a_period_of_one_instant_one_microsecond_later_is_refused(
    tmp_path, capsys
):
    documents = [_entry("on", parse_timestamp_us(AS_OF), "a")]
    assert replay(tmp_path, documents, "--since", AS_OF) == 0
    assert period(tmp_path)["windows"] == 1
    later = format_timestamp(parse_timestamp_us(AS_OF) + US)
    assert replay(tmp_path, documents, "--since", later) == 2
    assert "--since is after --as-of" in capsys.readouterr().err


@pytest.mark.parametrize(("back", "status"), [(0, 0), (US, 2)])
def test_since_may_ask_for_exactly_replay_max_windows_and_not_one_microsecond_more(
    tmp_path, monkeypatch, back, status
):
    monkeypatch.setenv("EDC_LATENCY_REPLAY_MAX_WINDOWS", "3")
    first = parse_timestamp_us(AS_OF) - 2 * DAY  # windows of Jan 3, 4 and 5 (holding --as-of)
    documents = [_entry("on", first, "a")]
    assert replay(tmp_path, documents, "--since", format_timestamp(first - back)) == status
    if status == 0:
        assert period(tmp_path)["windows"] == 3


def test_without_since_the_period_starts_at_the_first_event_at_or_after_the_look_back(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("EDC_LATENCY_REPLAY_MAX_LOOKBACK", "2d")
    floor = parse_timestamp_us(AS_OF) - 2 * DAY
    documents = [_entry("on", floor, "a"), _entry("before", floor - US, "b")]
    assert replay(tmp_path, documents) == 0
    p = period(tmp_path)
    assert (p["since"], p["since_from"], p["events_before_period"]) == (
        format_timestamp(floor),
        "first event",
        1,
    )
