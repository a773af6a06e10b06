"""Hypothesis strategies: contract documents over the whole of version 1 (docs/contract.md).

Any identifier of 1-128 characters, any offset and 0-9 fraction digits of a timestamp,
every optional field absent, null or given, and an unknown extra field now and then.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from schemas.events import MODELS
from schemas.timestamps import US_PER_SECOND, format_timestamp

identifiers = st.text(min_size=1, max_size=128)
optional_identifiers = st.one_of(st.none(), identifiers)
countries = st.one_of(st.none(), st.from_regex(r"\A[A-Z]{2}\Z"))
# 1900..2100, to the microsecond.
instants = st.integers(
    min_value=-2_208_988_800 * US_PER_SECOND, max_value=4_102_444_800 * US_PER_SECOND
)
offsets_min = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59)


@st.composite
def timestamps(draw: st.DrawFn, us: int) -> str:
    """``us`` written as a producer might: any offset, Z or ±hh:mm, 0-9 fraction digits."""
    offset = draw(st.one_of(st.just(None), offsets_min))
    local = us + (offset or 0) * 60 * US_PER_SECOND
    base = format_timestamp(local - local % US_PER_SECOND)[:19]
    micros = local % US_PER_SECOND
    digits = draw(st.integers(min_value=0 if micros == 0 else 6, max_value=9))
    fraction = f".{micros:06d}{'7' * (digits - 6)}"[: digits + 1] if digits else ""
    if offset is None:
        zone = "Z"
    else:
        sign = "+" if offset >= 0 else "-"
        zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return base + fraction + zone


def _maybe(draw: st.DrawFn, document: dict[str, Any], name: str, values: st.SearchStrategy) -> None:
    """An optional field: absent, or given (null included when the strategy draws None)."""
    if draw(st.booleans()):
        document[name] = draw(values)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(MODELS)))
    if kind == "edc.entry/1":
        document = {
            "schema": kind, "event_id": draw(identifiers), "study_id": draw(identifiers),
            "site_id": draw(identifiers), "subject_id": draw(identifiers),
            "form_id": draw(identifiers), "record_id": draw(identifiers),
            "entered_at": draw(timestamps(draw(instants))),
        }  # fmt: skip
        _maybe(draw, document, "country", countries)
        _maybe(draw, document, "vendor", optional_identifiers)
        _maybe(draw, document, "action", st.sampled_from(["create", "update", "delete"]))
        _maybe(draw, document, "visit_date", st.one_of(st.none(), st.dates().map(str)))
    elif kind in ("dashboard.publish/1", "pipeline.stage/1"):
        published = draw(instants)
        at = "published_at" if kind == "dashboard.publish/1" else "completed_at"
        document = {
            "schema": kind, "event_id": draw(identifiers), "study_id": draw(identifiers),
            at: draw(timestamps(published)),
        }  # fmt: skip
        if kind == "pipeline.stage/1":
            document["stage"] = draw(identifiers)
        if draw(st.booleans()):
            document["record_ids"] = draw(st.lists(identifiers, min_size=1, max_size=5))
        else:
            cutoff = published - draw(
                st.integers(min_value=0, max_value=400 * 86_400 * US_PER_SECOND)
            )
            document["data_cutoff"] = draw(timestamps(cutoff))
        _maybe(draw, document, "dashboard", identifiers)
    else:
        document = {
            "schema": kind, "event_id": draw(identifiers), "query_id": draw(identifiers),
            "study_id": draw(identifiers), "site_id": draw(identifiers),
            "status": draw(st.sampled_from(["opened", "answered", "closed", "cancelled"])),
            "occurred_at": draw(timestamps(draw(instants))),
        }  # fmt: skip
        for name in ("record_id", "form_id", "vendor", "origin"):
            _maybe(draw, document, name, optional_identifiers)
        _maybe(draw, document, "country", countries)
    if draw(st.booleans()):
        document["x-producer-extra"] = draw(
            st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1), identifiers)
        )
    return document


def producer_values(document: object) -> list[str]:
    """Every value a producer wrote into the document (not the keys), as text."""
    if isinstance(document, dict):
        return [v for key, value in document.items() for v in producer_values(value) if key != "schema"]
    if isinstance(document, list):
        return [v for item in document for v in producer_values(item)]
    return [] if document is None or isinstance(document, bool) else [str(document)]
