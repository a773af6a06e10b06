"""The report's share within SLA counts overdue entries (issue 26): the bundled sample's NEU-112."""

from __future__ import annotations

import csv
import io

import orjson

from agents.cli import main
from tests.agents.audit.test_replay_frozen import SAMPLE, STUDIES


def test_the_sample_shows_the_overdue_entries_of_a_study_that_stopped_publishing(tmp_path):
    out = tmp_path / "out"
    argv = ["replay", "--input", str(SAMPLE), "--as-of", "2026-01-09T00:00:00Z", "--out",
            str(out), "--quiet", "--config", str(STUDIES)]  # fmt: skip
    assert main(argv) == 0
    report = orjson.loads((out / "report.json").read_bytes())
    neu = report["studies"]["NEU-112"]["dashboards"]["default"]
    # 103 published within SLA and 3 entries waiting past it: 103 of 106, not 103 of 103.
    assert neu["backlog"]["overdue"] == 3
    assert (neu["latency"]["within_sla"], neu["latency"]["over_sla"]) == (103, 3)
    assert neu["latency"]["share_within_sla"] == round(103 / 106, 4)
    assert "97.2% (103 of 106)" in (out / "report.html").read_text()
    # Its breaches are counted in the window in which their deadlines passed, a day with
    # no publish of the study at all: that window's share is 0, not "no data".
    by_day = {
        w["start"][:10]: w["studies"]["NEU-112"]["dashboards"]["default"]["latency"]
        for w in report["windows"]
    }
    day = by_day["2026-01-08"]
    assert (day["count"], day["over_sla"], day["share_within_sla"]) == (0, 3, 0.0)
    assert sum(w["over_sla"] for w in by_day.values()) == 3  # each counted once
    rows = csv.DictReader(io.StringIO((out / "windows.csv").read_text()))
    assert [r["over_sla"] for r in rows if r["study"] == "NEU-112"] == ["0", "0", "0", "3", "0"]
