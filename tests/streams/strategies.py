"""Hypothesis strategies: small universes of ids and instants, so events collide often."""

from __future__ import annotations

import msgspec
from hypothesis import strategies as st

from schemas import EntryEvent, Event, PublishEvent, QueryEvent, format_timestamp
from schemas.events import document_hook
from streams import EngineConfig, StudyConfig

BASE = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000_000
DAY = 24 * HOUR

STUDY_CONFIG = {"S1": (("default", "ops"), 6 * HOUR)}
DEFAULT_CONFIG = (("default",), 24 * HOUR)


def engine_config(**options: object) -> EngineConfig:
    """The studies above (S1 with two dashboards, the rest by default), plus `options`."""
    return EngineConfig(
        default_study=StudyConfig(sla_us=DEFAULT_CONFIG[1], dashboards=DEFAULT_CONFIG[0]),
        studies={
            sid: StudyConfig(sla_us=sla, dashboards=dashboards)
            for sid, (dashboards, sla) in STUDY_CONFIG.items()
        },
        **options,  # type: ignore[arg-type]
    )


MINUTE = 60_000_000

# Instants where equality is common, and where it is not. The coarse grid (whole hours,
# days and quarter days, whole minutes) makes entry times, cutoffs, publish times, query
# times and T coincide, and lands on exact multiples of the SLAs (6 h, 24 h), of the window
# sizes and of the aging limits (7, 14, 30 d); one microsecond either side of an hour is
# either side of an hour bucket, a window edge or an SLA; the fine grid (any microsecond
# over ~41 days) is where nothing coincides. Over ~40 days: query aging > 30 d.
coarse_instants = (
    st.sampled_from([BASE + h * HOUR for h in (0, 1, 6, 7, 24, 30, 48, 200, 400, 800, 1000)])
    | st.builds(
        lambda day, quarter: BASE + day * DAY + quarter * 6 * HOUR,
        st.integers(0, 40),
        st.integers(0, 3),
    )
    | st.builds(lambda h: BASE + h * HOUR, st.integers(0, 72))
    | st.builds(lambda m: BASE + m * MINUTE, st.integers(0, 72 * 60))
)
edge_instants = st.builds(
    lambda h, side: BASE + h * HOUR + side, st.integers(0, 72), st.sampled_from([-1, 1])
)
fine_instants = st.integers(BASE, BASE + 41 * DAY)
instants = coarse_instants | edge_instants | fine_instants
studies = st.sampled_from(["S1", "S2"])
records = st.sampled_from(["r1", "r2", "r3", "r4"])
vendors = st.sampled_from(["V1", "V2", None])
event_ids = st.sampled_from([f"e{i}" for i in range(40)])


def _valid(model, document):  # type: ignore[no-untyped-def]
    """The document through the contract's own decoding (as parse_event, from a dict)."""
    return msgspec.convert(document, model, strict=True, dec_hook=document_hook)


def _ts(us: int) -> str:
    return format_timestamp(us)


@st.composite
def entries(draw: st.DrawFn) -> EntryEvent:
    return _valid(EntryEvent,
        {
            "schema": "edc.entry/1",
            "event_id": draw(event_ids),
            "study_id": draw(studies),
            "site_id": draw(st.sampled_from(["site-1", "site-2"])),
            "subject_id": "subj",
            "form_id": "form",
            "record_id": draw(records),
            "entered_at": _ts(draw(instants)),
            "country": draw(st.sampled_from(["DE", "FR", None])),
            "vendor": draw(vendors),
            "action": draw(st.sampled_from(["create", "update"])),
        }
    )


@st.composite
def publishes(draw: st.DrawFn) -> PublishEvent:
    published = draw(instants)
    doc = {
        "schema": "dashboard.publish/1",
        "event_id": draw(event_ids),
        "study_id": draw(studies),
        "published_at": _ts(published),
        "dashboard": draw(st.sampled_from(["default", "default", "ops", "elsewhere"])),
    }
    if draw(st.booleans()):
        # Back from the publish by nothing, a bucket, an SLA, or one microsecond less.
        back = draw(st.sampled_from([0, 1, HOUR, 6 * HOUR, 6 * HOUR - 1, DAY, 2 * DAY]))
        doc["data_cutoff"] = _ts(published - back)
    else:
        doc["record_ids"] = draw(st.lists(records, min_size=1, max_size=3))
    return _valid(PublishEvent, doc)


@st.composite
def query_events(draw: st.DrawFn) -> QueryEvent:
    return _valid(QueryEvent,
        {
            "schema": "edc.query/1",
            "event_id": draw(event_ids),
            "query_id": draw(st.sampled_from(["q1", "q2", "q3"])),
            "study_id": draw(studies),
            "site_id": draw(st.sampled_from(["site-1", "site-2"])),
            "country": draw(st.sampled_from(["DE", None])),
            "vendor": draw(vendors),
            "status": draw(
                st.sampled_from(["opened", "opened", "answered", "closed", "cancelled"])
            ),
            "occurred_at": _ts(draw(instants)),
        }
    )


def events() -> st.SearchStrategy[Event]:
    return st.one_of(entries(), publishes(), query_events())


arrivals = st.lists(events(), max_size=40)
