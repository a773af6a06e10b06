"""The engine state layout of ``streams/state.py`` as typed structures: every field's type and range.

A checkpoint is input from a topic others can write to: before any of it reaches an
engine, it is decoded into these structures (``msgspec``, positional arrays as in the
layout), so a wrong type or an out-of-range value is refused with one line naming
where it is (``$.clock[0]``), never echoing the value. What a type cannot say (a
tally's bucket count, a query's group index, a key part per breakdown dimension) is
checked in ``check``. The layout is ``streams/state.py``'s: its version is checked here too.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from streams.latency import GROUP_MASK, SEQ_MASK
from streams.queries import AWAITING_DM, AWAITING_SITE
from streams.visits import VALUE_MASK

OPEN_STATES = (AWAITING_SITE, AWAITING_DM)
# The layout's version (streams/state.py STATE_VERSION); 2: the tally's corrections (issue 26),
# 3: the inputs' progress and max_hold (issue 21); 4: the dashboards' publish instants and
# freshness histories (issue 22), pipeline stages and the unknown-stage counter, visit to
# entry (issue 23).
STATE_LAYOUT_VERSION = 4

# Event times and hours in microseconds / hours since the epoch: any 64-bit value.
Int64 = Annotated[int, Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
Count = Annotated[int, Meta(ge=0, le=(1 << 63) - 1)]
# A sequence number: its key field holds 64 bits; msgspec bounds stop at 2**63 - 1.
Seq = Annotated[int, Meta(ge=0, le=min(SEQ_MASK, (1 << 63) - 1))]
GroupIndex = Annotated[int, Meta(ge=0, le=GROUP_MASK)]
# An id or label value: what the event schema admits is far shorter; this only bounds it.
Text = Annotated[str, Meta(max_length=1 << 16)]
Decimal = Annotated[str, Meta(pattern=r"^-?[0-9]{1,40}$")]  # a tally's sum, as written
KeyPart = Text | None
# A query's state: an index into streams.queries.STATE_NAMES.
QueryStateIndex = Annotated[int, Meta(ge=0, le=3)]


class _Positional(Struct, array_like=True, forbid_unknown_fields=True, frozen=True):
    pass


class ConfigState(Struct, forbid_unknown_fields=True, frozen=True):
    retention_us: Count | None
    max_hold_us: Count
    breakdown: list[Text]
    latency_bounds_us: list[Count]
    query_bounds_us: list[Count]
    visit_bounds_us: list[Count]
    visit_medium_us: Count
    visit_high_us: Count


class CountersState(_Positional):
    accepted: Count
    duplicates: Count
    unknown_dashboard: Count
    late: Count
    unknown_stage: Count


class ClockState(_Positional):
    watermark_us: Int64 | None
    earliest_us: Int64 | None
    seq: Seq
    pruned_at_us: Int64 | None


# An input topic's index among the worker's inputs, and a partition number (Kafka: int32).
TopicIndex = Annotated[int, Meta(ge=0, le=(1 << 16) - 1)]
PartitionNumber = Annotated[int, Meta(ge=0, le=(1 << 31) - 1)]


class InputMarkState(_Positional):
    topic_index: TopicIndex
    partition: PartitionNumber
    newest_us: Int64 | None
    idle: bool


# Partitions of one input topic: far beyond any real topic, and low enough that the low
# watermark's walk over them (streams/watermarks.py) stays short.
PartitionCount = Annotated[int, Meta(ge=0, le=100_000)]


class InputsState(Struct, forbid_unknown_fields=True, frozen=True):
    partitions: list[PartitionCount]
    marks: list[InputMarkState]


class LastEntryState(_Positional):
    study_id: Text
    site_id: Text
    record_id: Text
    entered_us: Int64
    country: Text | None
    vendor: Text | None
    seq: Seq


class HourIds(_Positional):
    hour: Int64
    event_ids: list[Text]


class EventIdsState(Struct, forbid_unknown_fields=True, frozen=True):
    hours: list[HourIds]
    unfiled: list[Text]
    hour: Int64 | None


class TallyState(_Positional):
    bucket_counts: list[Count]
    count: Count
    sum_us: Decimal
    within_sla: Count
    # Version 2: corrections by late, earlier publishes (counters never decrease, issue 26).
    corrected_us: Decimal
    withdrawn: Count
    breaches_withdrawn: Count


class PendingHour(_Positional):
    hour: Int64
    entered_us: list[Int64]
    seqs: list[Seq]
    record_ids: list[Text]


class PublishedHour(_Positional):
    hour: Int64
    max_published: Int64
    entered_us: list[Int64]
    seqs: list[Seq]
    published_us: list[Int64]
    record_ids: list[Text]


class GroupState(_Positional):
    key: list[KeyPart]
    latest_published: Int64
    tally: TallyState
    pending: list[PendingHour]
    published: list[PublishedHour]


class RecordPublishes(_Positional):
    record_id: Text
    published_us: Int64 | list[Int64]


class ShownPoint(_Positional):
    """(instant or minute, value): an exact point, or a minute's maximum."""

    instant_us: Int64
    shown_us: Int64


class FreshnessState(_Positional):
    published_us: list[Int64]
    shown: list[ShownPoint]
    published_minutes: list[ShownPoint]
    shown_minutes: list[ShownPoint]
    published_before: Int64 | None
    shown_before: Int64 | None
    fold_at: Int64 | None


class DashboardState(_Positional):
    name: Text
    sla_us: Count
    last_published_us: Int64 | None
    first_entered_us: Int64 | None
    snapshot_cutoffs: list[Int64]
    snapshot_times: list[Int64]
    publishes: list[RecordPublishes]
    groups: list[GroupState]
    publish_times: list[Int64]  # v4
    freshness: FreshnessState  # v4


class QueryGroupState(_Positional):
    key: list[KeyPart]
    answers: TallyState
    closes: TallyState


class TrackedQueryState(_Positional):
    query_id: Text
    group: GroupIndex
    last_us: Int64
    state: QueryStateIndex
    opened_us: Int64 | None
    orphans: Count
    events: list[Int64 | Text]  # flat: occurred_us, seq, status, occurred_us, …


class QueriesState(_Positional):
    groups: list[QueryGroupState]
    queries: list[TrackedQueryState]


class PipelineLayout(_Positional):
    dashboard: Text
    stages: list[Text]  # every stage's name, as configured when written
    ledgers: list[DashboardState]  # one per stage before the publish


class EntryTimesHour(_Positional):
    hour: Int64
    entered_us: list[Int64]


# A visit to entry: what streams.visits packs beside its entry time (VALUE_BITS).
VisitValue = Annotated[int, Meta(ge=0, le=VALUE_MASK)]


class VisitHour(_Positional):
    hour: Int64
    entered_us: list[Int64]
    values_us: list[VisitValue]


class VisitGroupState(_Positional):
    key: list[KeyPart]
    tally: TallyState
    over_medium: Count
    over_high: Count
    hours: list[VisitHour]


class VisitsState(_Positional):
    """Version 4: a study's visit to entry (streams/visits.py)."""

    without_visit_date: Count
    before_visit: Count
    before_hours: list[EntryTimesHour]
    groups: list[VisitGroupState]


class StudyLayout(_Positional):
    study_id: Text
    sla_us: Count
    first_seen_us: Int64 | None
    dashboards: list[DashboardState]
    queries: QueriesState
    pipelines: list[PipelineLayout]
    visits: VisitsState


class EngineState(Struct, forbid_unknown_fields=True, frozen=True):
    version: Annotated[int, Meta(ge=STATE_LAYOUT_VERSION, le=STATE_LAYOUT_VERSION)]
    config: ConfigState
    counters: CountersState
    clock: ClockState
    inputs: InputsState | None
    last_entry: LastEntryState | None
    event_ids: EventIdsState
    studies: list[StudyLayout]


class SchemaError(ValueError):
    """The state is not of this layout: one line, naming where."""


def decode(raw: bytes) -> EngineState:
    """JSON bytes → typed state, or SchemaError naming the first field that is wrong."""
    try:
        return msgspec.json.decode(raw, type=EngineState)
    except msgspec.ValidationError as error:
        raise SchemaError(_one_line(error)) from None
    except (msgspec.DecodeError, RecursionError):
        raise SchemaError("not JSON of the engine state layout") from None


def convert(state: object) -> EngineState:
    """Plain values (``orjson.loads`` of a state) → typed state, or SchemaError."""
    try:
        return msgspec.convert(state, EngineState, strict=True)
    except msgspec.ValidationError as error:
        raise SchemaError(_one_line(error)) from None
    except RecursionError:
        raise SchemaError("not the engine state layout") from None


def _one_line(error: msgspec.ValidationError) -> str:
    # msgspec names the rule and the path (`Expected `int`, got `str` - at `$.clock[0]``),
    # never the value found.
    return " ".join(str(error).split())[:300]


def check(
    state: EngineState,
    latency_buckets: int,
    query_buckets: int,
    dimensions: int,
    visit_buckets: int = 0,
) -> None:
    """What the types cannot say; SchemaError naming the place."""
    hours = state.event_ids.hours
    if state.event_ids.hour is not None and state.event_ids.hour not in {h.hour for h in hours}:
        raise SchemaError("$.event_ids.hour: not one of the hours filed")
    for s, study in enumerate(state.studies):
        for d, dashboard in enumerate(study.dashboards):
            where = f"$.studies[{s}][3][{d}]"
            if len(dashboard.groups) > GROUP_MASK + 1:
                raise SchemaError(f"{where}: too many groups")
            for g, group in enumerate(dashboard.groups):
                if len(group.key) != dimensions:
                    raise SchemaError(f"{where}[7][{g}][0]: one key part per breakdown dimension")
                _check_tally(group.tally, latency_buckets, f"{where}[7][{g}][2]")
                for hour in group.pending:
                    if not len(hour.entered_us) == len(hour.seqs) == len(hour.record_ids):
                        raise SchemaError(f"{where}[7][{g}][3]: columns of unequal length")
                for hour in group.published:
                    columns = (hour.entered_us, hour.seqs, hour.published_us, hour.record_ids)
                    if len({len(column) for column in columns}) != 1:
                        raise SchemaError(f"{where}[7][{g}][4]: columns of unequal length")
        for p, pipeline in enumerate(study.pipelines):
            if len(pipeline.ledgers) != max(len(pipeline.stages) - 1, 0):
                raise SchemaError(f"$.studies[{s}][5][{p}]: one ledger per stage before the publish")
        where = f"$.studies[{s}][4]"
        for g, group in enumerate(study.queries.groups):
            if len(group.key) != dimensions:
                raise SchemaError(f"{where}[0][{g}][0]: one key part per breakdown dimension")
            _check_tally(group.answers, query_buckets, f"{where}[0][{g}][1]")
            _check_tally(group.closes, query_buckets, f"{where}[0][{g}][2]")
        where_visits = f"$.studies[{s}][6]"
        for g, visit_group in enumerate(study.visits.groups):
            if len(visit_group.key) != dimensions:
                raise SchemaError(
                    f"{where_visits}[3][{g}][0]: one key part per breakdown dimension"
                )
            _check_tally(visit_group.tally, visit_buckets, f"{where_visits}[3][{g}][1]")
            if not visit_group.over_high <= visit_group.over_medium <= visit_group.tally.count:
                raise SchemaError(f"{where_visits}[3][{g}]: threshold counts disagree")
            for hour in visit_group.hours:
                if len(hour.entered_us) != len(hour.values_us):
                    raise SchemaError(f"{where_visits}[3][{g}][4]: columns of unequal length")
        for q, query in enumerate(study.queries.queries):
            if query.group >= len(study.queries.groups):
                raise SchemaError(f"{where}[1][{q}][1]: no such query group")
            if query.state in OPEN_STATES and query.opened_us is None:
                raise SchemaError(f"{where}[1][{q}][4]: an open query without its opening time")
            events = query.events
            if len(events) % 3 or not all(
                type(events[i]) is int and type(events[i + 1]) is int and type(events[i + 2]) is str
                and 0 <= events[i + 1] <= SEQ_MASK  # type: ignore[operator]
                for i in range(0, len(events), 3)
            ):  # fmt: skip
                raise SchemaError(f"{where}[1][{q}][6]: not (occurred_us, seq, status) triples")


def _check_tally(tally: TallyState, buckets: int, where: str) -> None:
    if len(tally.bucket_counts) != buckets + 1:
        raise SchemaError(f"{where}: a tally does not match its bucket bounds")
    if tally.within_sla > tally.count or sum(tally.bucket_counts) != tally.count:
        raise SchemaError(f"{where}: a tally's counts disagree")
