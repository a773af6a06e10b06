"""CSV cells a spreadsheet cannot run, however it splits the line (agents/audit/replay/cells.py)."""

from __future__ import annotations

import csv
import io
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit.replay.cells import all_plain, safe_cell

FORMULA = "=+-@"
FUZZ = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1  # make fuzz
SPLITS = ",;:| \t\n\f\v"  # what an import dialog offers to split on, and line breaks


def test_a_formula_behind_a_semicolon_is_neutralised():
    assert safe_cell("k;=2+3") == "k;'=2+3"
    assert safe_cell("k; =2+3") == "k; '=2+3"
    assert not all_plain(["ok", "k;=2+3"])


@settings(max_examples=FUZZ * 100)
@given(st.text(alphabet="ab1=+-@'\"" + SPLITS + "\r", max_size=12))
def test_no_part_of_a_cell_split_anywhere_starts_as_a_formula(text):
    cell = safe_cell(text)
    assert "\r" not in cell
    for delimiter in SPLITS:
        for part in cell.split(delimiter):
            assert part.lstrip(" \t\n\f\v")[:1] not in tuple(FORMULA)


@given(st.text(alphabet="abcXYZ019_-./=+@", max_size=16))
def test_ids_without_a_delimiter_keep_their_bytes(text):
    # Only the leading character decides, as before: normal ids are written as they are.
    assert safe_cell(text) == ("'" + text if text[:1] in tuple(FORMULA) else text)


@given(st.lists(st.text(alphabet='ab,;:|=+-@ \t\n"', max_size=6), max_size=5))
def test_plain_columns_are_written_as_they_are(texts):
    if all_plain(texts):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(texts)
        assert [safe_cell(t) for t in texts] == texts
        if texts != [""]:  # csv writes a row of one empty cell as ""
            assert out.getvalue() == ",".join(texts) + "\n"


# Pieces of ids: plain text, what csv quotes, and every separator before a formula start.
PIECES = ["a", "-b", "é", ",", '"', "\r", "\n", "'", *(c + f for c in SPLITS + "\r" for f in FORMULA)]


@settings(max_examples=FUZZ * 300)
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=4).map("".join), max_size=5))
def test_a_column_is_plain_exactly_when_every_text_is_written_as_it_is(texts):
    # No cell changed by safe_cell, none that csv quotes: what callers skip per cell.
    expected = all(safe_cell(t) == t and not any(c in t for c in ',"\r\n') for t in texts)
    assert all_plain(texts) == expected
