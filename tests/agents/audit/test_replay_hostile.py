"""The replay against the probe's hostile files: it finishes, says why, and stays bounded.

Run as the command an auditor runs (a subprocess), so the exit status, stderr and the
peak memory (ru_maxrss of the children) are what an operator would see.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.schemas.hostile import poison_message

AS_OF = "2026-01-02T00:00:00Z"


def _entry(i: int) -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": f"e{i}", "study_id": "ONC-1", "site_id": "s1",
        "subject_id": "x", "form_id": "f", "record_id": f"r{i}",
        "entered_at": "2026-01-01T00:00:00Z",
    })  # fmt: skip


def _replay(source: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "agents.cli", "replay", "--input", str(source),
            "--as-of", AS_OF, "--out", str(out), "--quiet", *extra]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_poison_message_is_an_invalid_line_and_the_entries_behind_it_count(tmp_path, jobs):
    source = tmp_path / "poison.jsonl"
    source.write_bytes(b"\n".join([poison_message(), *(_entry(i) for i in range(20))]) + b"\n")
    done = _replay(source, tmp_path / "out", "--jobs", str(jobs))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_bytes())
    assert report["input"]["valid"] == 20 and report["input"]["invalid"] == 1
    assert report["invalid"] == [{"line": 1, "reason": "not JSON: nested too deeply"}]
    assert report["studies"]["ONC-1"]["dashboards"]["default"]["backlog"]["pending"] == 20
