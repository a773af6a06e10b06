"""docs/design.md's "Where things live" is the newcomer's map: it must match the tree.

A folder added without a row, or a row left behind by a rename, sends the next reader
to the wrong place; this reads the table the way they would.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_FOLDERS = ("agents", "bench", "deploy", "grafana", "mutation", "schemas", "streams", "tests")


def _map_rows() -> list[str]:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text[text.index("Where things live") :]
    rows: list[str] = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("| `"):
            rows.append(line)
    return rows


def _row_folders(rows: list[str]) -> set[str]:
    return {re.match(r"\| `([^`]+)`", row).group(1).rstrip("/") for row in rows}  # type: ignore[union-attr]


def test_every_top_folder_and_agents_package_has_a_row() -> None:
    folders = _row_folders(_map_rows())
    agents_packages = {
        f"agents/{path.parent.name}"
        for path in (ROOT / "agents").glob("*/__init__.py")
        if path.parent.name != "__pycache__"
    }
    expected = set(TOP_FOLDERS) - {"agents"} | agents_packages | {"agents"}
    assert expected <= folders, f"folders without a row in docs/design.md: {sorted(expected - folders)}"


def test_every_folder_and_file_the_map_names_exists() -> None:
    rows = _map_rows()
    missing = []
    for row in rows:
        folder = re.match(r"\| `([^`]+)`", row).group(1).rstrip("/")  # type: ignore[union-attr]
        for name in re.findall(r"`([A-Za-z0-9_./-]+\.(?:py|sql|toml|sh|yml|yaml|json))`", row):
            found = (ROOT / name).exists() or any((ROOT / folder).rglob(Path(name).name))
            if not found:
                missing.append(f"{folder}: {name}")
        if not (ROOT / folder).is_dir():
            missing.append(folder)
    assert not missing, f"docs/design.md names what the tree does not have: {missing}"
