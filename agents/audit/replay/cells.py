"""CSV cells that a spreadsheet cannot run: text starting with = + - @ tab or CR gets a leading '.

Excel, LibreOffice and Google Sheets treat such a cell as a formula (OWASP "CSV
injection"). Only text taken from input (ids, site, country, vendor, form,
dashboard, study) is neutralised; numbers and timestamps we format ourselves
never start with those characters except a negative number, which stays a number.
A carriage return inside such text is written as a line feed (see ``safe_cell``). A
formula start after a delimiter-like character inside the text (``k;=2+3``: a
spreadsheet that splits on ``;`` sees ``=2+3`` as a cell) gets the ' as well.
The prefix is deterministic, so the CSVs stay byte-identical across runs.
"""

from __future__ import annotations

import re

from schemas.timestamps import seconds_ms

_FORMULA_STARTS = frozenset("=+-@\t\r")
# A formula start after a character a spreadsheet may split on (its import dialog
# offers semicolon, comma, tab, space and others; a line break starts a row): that
# part becomes a cell of its own, so it gets the ' too ("k;=2+3" -> "k;'=2+3").
_INNER_FORMULA = re.compile(r"([,;:| \t\n\r\f\v]+)([=+\-@])")
# _INNER_FORMULA's separators other than LF and those that csv quotes (comma, CR).
_OTHER_SEPARATORS = ";:| \t\f\v"


def safe_cell(text: str) -> str:
    if "\r" in text:
        # csv quotes a cell only for the line terminator ("\n"): an unquoted CR would
        # start a new row in a spreadsheet, and the text after it a new cell. As LF it
        # is quoted and stays inside its cell.
        text = ("'" if text[:1] in _FORMULA_STARTS else "") + text.replace("\r", "\n")
    elif text[:1] in _FORMULA_STARTS:
        text = "'" + text
    if _INNER_FORMULA.search(text) is not None:
        text = _INNER_FORMULA.sub(r"\1'\2", text)
    return text


def safe_cells(texts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(safe_cell(text) for text in texts)


def all_plain(texts: list[str]) -> bool:
    """True when ``csv.writer`` and ``safe_cell`` write every text as it is: none holds a
    comma, a quote, CR or LF, nor starts as a formula.

    Asked of a whole column at once (the replay's event or record ids), on one joined
    string: a few scans in C instead of checks per cell. Joined by LF, so LF before a
    character is the start of a text once no text holds an LF itself (as many LFs as
    separators).
    """
    if not texts:
        return True
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1 or joined[:1] in _FORMULA_STARTS:
        return False
    # A formula start after an LF only where the character occurs at all: LF is every
    # ~15th character of an id column, so each two-character search costs a scan at its
    # pace (~2.5 ms for 188k ids) where a single character's costs ~0.06 ms.
    if any(c in joined for c in ',"\r') or any(
        c in joined and "\n" + c in joined for c in _FORMULA_STARTS
    ):
        return False
    # With no separator but the joining LFs, an inner formula start would follow an LF,
    # which the line above ruled out: the scan by the expression (a third of the cost,
    # ~0.035 s a column of 188k ids) only runs when one is there.
    return not any(c in joined for c in _OTHER_SEPARATORS) or _INNER_FORMULA.search(joined) is None


def number_cell(column: str, value: float | None) -> str:
    """A figure of ours in a CSV column named for its unit: seconds (``*_s``) to the
    millisecond as entries.csv, shares (``share*``) to four places, counts as they are;
    empty when there is none."""
    if value is None:
        return ""
    if column.endswith("_s"):
        return f"{value:.3f}"
    if column.startswith("share"):
        return f"{value:.4f}"
    return str(value)


def seconds_or_none(us: int | None) -> float | None:
    """A duration or instant of report.json in seconds, to the millisecond (None stays None)."""
    return None if us is None else seconds_ms(us)
