"""The replay's FSP scorecards: JSON, CSV and HTML agree, are reproducible and name no subject."""

from __future__ import annotations

import csv
import io
import json

import orjson

from tests.agents.audit.test_replay import SAMPLE, replay


def rows(path) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_scorecards_are_byte_identical_across_runs(tmp_path):
    first, second = replay(tmp_path, "a"), replay(tmp_path, "b")
    assert (first / "scorecard.csv").read_bytes() == (second / "scorecard.csv").read_bytes()


def test_vendor_figures_equal_what_entries_csv_lists_per_vendor(tmp_path):
    """Two independent paths: the engine's groups, and the row per entry and dashboard."""
    out = replay(tmp_path, "r")
    report = json.loads((out / "report.json").read_text())
    entries = rows(out / "entries.csv")
    for scope, cards in [("", report["scorecards"]["all_studies"]),
                         *report["scorecards"]["studies"].items()]:  # fmt: skip
        for dimension in ("vendor", "country"):
            listed = [r for r in entries if not scope or r["study"] == scope]
            values = {r[dimension] or "unassigned" for r in listed}
            assert set(cards[dimension]) == values
            for value, card in cards[dimension].items():
                mine = [r for r in listed if (r[dimension] or "unassigned") == value]
                published = [r for r in mine if r["state"] == "published"]
                assert card["entries"] == len(mine)
                assert card["published"] == len(published)
                assert card["within_sla"] == sum(r["within_sla"] == "true" for r in published)
                assert card["pending"] == sum(r["state"] != "published" for r in mine)
                assert card["overdue"] == sum(r["state"] == "overdue" for r in mine)
    # The sample's slower vendor shows: FSP-Beta misses the objective in ONC-301, Alpha meets it.
    onc = report["scorecards"]["studies"]["ONC-301"]["vendor"]
    assert onc["FSP-Beta"]["share_within_sla"] < 0.95 <= onc["FSP-Alpha"]["share_within_sla"]
    spread = report["scorecards"]["studies"]["ONC-301"]["vendor_spread"]
    assert spread["min_share_within_sla"] == onc["FSP-Beta"]["share_within_sla"]
    assert spread["vendors"] == 2 and spread["stdev_share_within_sla"] > 0


def test_scorecard_csv_and_html_show_what_report_json_holds(tmp_path):
    out = replay(tmp_path, "h")
    report = json.loads((out / "report.json").read_text())
    table = rows(out / "scorecard.csv")
    for row in table:
        scope = (
            report["scorecards"]["studies"][row["study"]]
            if row["study"]
            else (report["scorecards"]["all_studies"])
        )
        card = scope[row["dimension"]][row["value"]]
        assert int(row["entries"]) == card["entries"]
        assert int(row["open_queries"]) == card["open_queries"]
        assert (float(row["share_within_sla"]) if row["share_within_sla"] else None) == (
            card["share_within_sla"]
        )
    html = (out / "report.html").read_text()
    section = html[html.index("Vendor and country scorecards") : html.index("Invalid inputs")]
    for row in table:
        assert f"<td>{row['value']}</td>" in section
    for study, sites in report["sites_behind_breaches"].items():
        assert f"<h3>{study}</h3>" in section
        for site in sites:
            assert f"<td>{site['site']}</td><td>{site['over_sla']}</td>" in section
    # ES-301's nightly batch drives ONC-301's breaches.
    assert report["sites_behind_breaches"]["ONC-301"][0]["site"] == "ES-301"


def test_the_scorecards_name_sites_but_never_subjects_records_or_queries(tmp_path):
    out = replay(tmp_path, "p")
    report = json.loads((out / "report.json").read_text())
    written = orjson.dumps({k: report[k] for k in ("scorecards", "sites_behind_breaches")}).decode()
    written += (out / "scorecard.csv").read_text()
    html = (out / "report.html").read_text()
    written += html[html.index("Vendor and country scorecards") : html.index("Invalid inputs")]
    secrets = set()
    for line in SAMPLE.read_bytes().splitlines():
        document = orjson.loads(line) if line.startswith(b"{") else {}
        if isinstance(document, dict):
            for key in ("subject_id", "record_id", "query_id"):
                if isinstance(document.get(key), str):
                    secrets.add(document[key])
    assert secrets
    assert not [s for s in secrets if s in written]


def test_entries_and_queries_without_vendor_or_country_are_unassigned_not_dropped(tmp_path):
    source = tmp_path / "bare.jsonl"
    base = {"schema": "edc.entry/1", "study_id": "S", "site_id": "X1", "subject_id": "s",
            "form_id": "f", "record_id": "r"}  # fmt: skip
    lines = [
        {**base, "event_id": "e1", "entered_at": "2026-01-05T08:00:00Z"},
        {**base, "event_id": "e2", "entered_at": "2026-01-05T09:00:00Z", "vendor": "V"},
        {"schema": "dashboard.publish/1", "event_id": "p1", "study_id": "S",
         "published_at": "2026-01-05T10:00:00Z", "record_ids": ["r"]},
        {"schema": "edc.query/1", "event_id": "q1", "query_id": "q", "study_id": "S",
         "site_id": "X1", "status": "opened", "occurred_at": "2026-01-05T11:00:00Z"},
    ]  # fmt: skip
    source.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    report = json.loads((replay(tmp_path, "u", source=source) / "report.json").read_text())
    cards = report["scorecards"]["all_studies"]
    assert set(cards["vendor"]) == {"V", "unassigned"}
    assert cards["vendor"]["unassigned"]["entries"] == 1
    assert cards["vendor"]["unassigned"]["open_queries"] == 1
    assert cards["country"]["unassigned"]["entries"] == 2
    # "unassigned" is no vendor: the spread is over V alone.
    assert cards["vendor_spread"]["vendors"] == 1
