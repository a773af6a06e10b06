"""CSV cells that a spreadsheet cannot run: text starting with = + - @ tab or CR gets a leading '.

Excel, LibreOffice and Google Sheets treat such a cell as a formula (OWASP "CSV
injection"). Only text taken from input (ids, site, country, vendor, form,
dashboard, study) is neutralised; numbers and timestamps we format ourselves
never start with those characters except a negative number, which stays a number.
A carriage return inside such text is written as a line feed (see ``safe_cell``).
The prefix is deterministic, so the CSVs stay byte-identical across runs.
"""

from __future__ import annotations

_FORMULA_STARTS = frozenset("=+-@\t\r")


def safe_cell(text: str) -> str:
    if "\r" in text:
        # csv quotes a cell only for the line terminator ("\n"): an unquoted CR would
        # start a new row in a spreadsheet, and the text after it a new cell. As LF it
        # is quoted and stays inside its cell.
        text = ("'" if text[:1] in _FORMULA_STARTS else "") + text.replace("\r", "\n")
        return text
    return "'" + text if text[:1] in _FORMULA_STARTS else text


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
    return not any(c in joined for c in ',"\r') and not any(
        "\n" + c in joined for c in _FORMULA_STARTS
    )
