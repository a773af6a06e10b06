"""The release: its version tied to the formats it shares, and CHANGELOG.md saying what changed.

A change of the engine state, checkpoint, shard wire or report format without a new
version fails here. To release one: bump ``version`` in pyproject.toml, add a
CHANGELOG.md entry (what an operator must do first, then its ``Formats:`` line), and
record the version's formats in ``RELEASES`` below.
"""

from __future__ import annotations

import re
import tomllib
from itertools import pairwise
from pathlib import Path

from agents.release import VERSION, formats

CHANGELOG = Path("CHANGELOG.md")
FORMAT_NAMES = ("engine state", "checkpoint", "shard wire", "report")
# Every version and the formats it shipped with; never edited once released.
RELEASES = {
    "0.1.0": {"engine state": "1", "checkpoint": "edc-latency.checkpoint/3",
              "shard wire": "0-2 (positional items)", "report": "edc-latency.report/1"},
    "0.2.0": {"engine state": "3", "checkpoint": "edc-latency.checkpoint/3",
              "shard wire": "3-4", "report": "edc-latency.report/1"},
    "0.3.0": {"engine state": "4", "checkpoint": "edc-latency.checkpoint/3",
              "shard wire": "3-4", "report": "edc-latency.report/1"},
    "0.3.1": {"engine state": "4", "checkpoint": "edc-latency.checkpoint/3",
              "shard wire": "3-4", "report": "edc-latency.report/1"},
}  # fmt: skip


def changelog_entries() -> list[tuple[str, dict[str, str]]]:
    """(version, formats) of each CHANGELOG.md entry, newest first."""
    entries = []
    for block in re.split(r"^## ", CHANGELOG.read_text(), flags=re.M)[1:]:
        version = block.split("\n", 1)[0].strip()
        line = re.search(r"^Formats: (.+)$", block, flags=re.M)
        assert line, f"CHANGELOG.md {version}: no 'Formats:' line"
        pairs = {}
        for part in line.group(1).split(" · "):
            name = next((n for n in FORMAT_NAMES if part.startswith(n + " ")), part)
            pairs[name] = part.removeprefix(name + " ")
        entries.append((version, pairs))
    return entries


def test_the_installed_version_is_the_one_in_pyproject():
    declared = tomllib.loads(Path("pyproject.toml").read_text())["project"]["version"]
    assert declared == VERSION, "reinstall (make .venv/.installed): the metadata is stale"


def test_the_formats_of_this_code_are_those_recorded_for_its_version():
    assert VERSION in RELEASES, f"{VERSION} is not recorded in RELEASES (see the docstring)"
    assert formats() == RELEASES[VERSION], (
        f"a format changed ({formats()}) but the version is still {VERSION}: bump the "
        "version in pyproject.toml, add a CHANGELOG.md entry and record it in RELEASES"
    )


def test_the_changelog_has_an_entry_per_release_newest_first_with_its_formats():
    entries = changelog_entries()
    assert entries[0][0] == VERSION, "CHANGELOG.md's newest entry is not this version"
    assert [version for version, _ in entries] == sorted(
        RELEASES, key=lambda v: tuple(int(n) for n in v.split(".")), reverse=True
    )
    for version, pairs in entries:
        assert pairs == RELEASES[version], f"CHANGELOG.md {version}: formats differ"


def test_releases_are_recorded_oldest_first_with_ascending_versions():
    versions = [tuple(map(int, v.split("."))) for v in RELEASES]
    assert all(older < newer for older, newer in pairwise(versions))


def test_the_first_operator_step_of_the_shard_wire_release_is_do_not_roll():
    text = CHANGELOG.read_text()
    entry = text.split("## 0.2.0", 1)[1].split("\n## ", 1)[0]
    steps = entry.split("### What an operator must do", 1)[1]
    assert re.search(r"^1\. \*\*Do not roll this release\.\*\*", steps.strip(), flags=re.M)
