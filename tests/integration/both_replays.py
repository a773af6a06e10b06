"""Export the configured topics, then replay the export and the topics: the two must agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.cli import main


def export_and_replay_both_ways(tmp_path: Path, *options: str) -> tuple[Path, dict[str, Any]]:
    """The export file and the report, once the replays of both agree on all but the source.

    The settings come from the environment (the test's). The replays write to
    ``tmp_path / "file"`` and ``tmp_path / "topics"``.
    """
    export = tmp_path / "audit.jsonl"
    assert main(["export", "--out", str(export)]) == 0
    common = [*options, "--quiet"]
    assert main(["replay", "--input", str(export), "--out", str(tmp_path / "file"), *common]) == 0
    assert main(["replay", "--from-topics", "--out", str(tmp_path / "topics"), *common]) == 0
    from_file = json.loads((tmp_path / "file" / "report.json").read_text())
    from_topics = json.loads((tmp_path / "topics" / "report.json").read_text())
    assert from_file["input"].pop("source") == export.name
    assert from_topics["input"].pop("source").startswith("kafka:")
    assert from_file == from_topics
    for name in ("entries.csv", "queries.csv"):
        assert (tmp_path / "file" / name).read_bytes() == (tmp_path / "topics" / name).read_bytes()
    return export, from_file
