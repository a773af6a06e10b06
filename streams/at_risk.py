"""What will breach next, per study and dashboard as of T: time to breach and the schedule.

Joins ``streams/deadlines.py`` (pending entries by time left) with
``streams/schedules.py`` (the next expected publish): the certain breaches are the
pending entries whose deadline falls before that publish.

Engines may hold parts of a study (the live shards, ``replay --jobs``: entries split
by record, record publishes split with them). Every answer here is therefore built
from parts that merge exactly: publish instants are unioned (each publish reaches at
least one part; each part keeps its newest ``CADENCE_HISTORY``, so the union holds the
newest of all), the first entry is the minimum, and pending entries add up. The
schedule is decided once from the merged history (``dashboard_outlook``); each part
then counts its own entries against it.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise

from streams.config import EngineConfig
from streams.deadlines import TimeToBreach, time_to_breach
from streams.latency import GroupKey, entered_at
from streams.publish_times import publishes_as_of
from streams.schedules import CADENCE_HISTORY, Outlook, learned_cadence, outlook

DashboardKey = tuple[str, str]  # study, dashboard


@dataclass(slots=True)
class PublishHistory:
    """A dashboard's publish instants (ascending, distinct) and first entry, merged over parts."""

    publish_times: list[int] = field(default_factory=list)
    first_entered_us: int | None = None

    def merge(self, publish_times: Iterable[int], first_entered_us: int | None) -> None:
        self.publish_times = sorted(set(self.publish_times).union(publish_times))
        if first_entered_us is not None and (
            self.first_entered_us is None or first_entered_us < self.first_entered_us
        ):
            self.first_entered_us = first_entered_us


def publish_histories(engines: Iterable[object]) -> dict[DashboardKey, PublishHistory]:
    """Every dashboard's publish history over the engines (parts of the same studies)."""
    histories: dict[DashboardKey, PublishHistory] = {}
    for engine in engines:
        for study_id, study in engine.studies.items():  # type: ignore[attr-defined]
            for name, ledger in study.dashboards.items():
                history = histories.setdefault((study_id, name), PublishHistory())
                history.merge(ledger.publish_times, ledger.first_entered_us)
    return histories


def dashboard_outlook(
    config: EngineConfig, study_id: str, dashboard: str, history: PublishHistory, as_of_us: int
) -> Outlook | None:
    """The schedule's view as of T: configured, else learned; None when neither says when.

    Before any publish, the baseline is the dashboard's first entry (its first publish was
    due at the first slot after it); with neither by T, nothing is expected yet.
    """
    times = publishes_as_of(history.publish_times, as_of_us)[-CADENCE_HISTORY:]
    if times:
        last = times[-1]
    elif history.first_entered_us is not None and history.first_entered_us <= as_of_us:
        last = history.first_entered_us
    else:
        return None
    schedule = config.study(study_id).schedules.get(dashboard) or learned_cadence(
        times, config.cadence_min_gap_us
    )
    if schedule is None:
        return None
    return outlook(schedule, last, as_of_us, config.schedule_grace_us)


def outlooks(
    config: EngineConfig, histories: dict[DashboardKey, PublishHistory], as_of_us: int
) -> dict[DashboardKey, Outlook | None]:
    return {
        key: dashboard_outlook(config, key[0], key[1], history, as_of_us)
        for key, history in histories.items()
    }


def time_to_breach_by_group(
    engine: object, as_of_us: int, expected: dict[DashboardKey, Outlook | None]
) -> Iterator[tuple[str, str, GroupKey, TimeToBreach]]:
    """Per study, dashboard and breakdown group of one engine (the live gauges)."""
    config: EngineConfig = engine.config  # type: ignore[attr-defined]
    edges = config.time_left_edges_us
    for study_id, study in engine.studies.items():  # type: ignore[attr-defined]
        for name, ledger in study.dashboards.items():
            seen = expected.get((study_id, name))
            next_publish = None if seen is None else seen.next_publish_us
            for key, group in ledger.groups.items():
                yield (
                    study_id,
                    name,
                    key,
                    time_to_breach([group], study.sla_us, as_of_us, edges, next_publish),
                )


# -- the replay's parts: plain values a worker hands back --------------------------------


@dataclass(slots=True)
class AtRiskPart:
    """One engine's share of a dashboard: its publish history and its pending entry times
    as of T (ascending)."""

    sla_us: int
    history: PublishHistory
    pending_entered: array[int]


def at_risk_parts(engine: object, as_of_us: int) -> dict[DashboardKey, AtRiskPart]:
    """What ``at_risk_from_parts`` needs of one engine (picklable, O(pending))."""
    parts: dict[DashboardKey, AtRiskPart] = {}
    for study_id, study in engine.studies.items():  # type: ignore[attr-defined]
        if study.first_seen_us is None or study.first_seen_us > as_of_us:
            continue
        for name, ledger in study.dashboards.items():
            entered: list[int] = []
            for group in ledger.groups.values():
                entered += pending_entered(group, as_of_us)
            entered.sort()
            parts[(study_id, name)] = AtRiskPart(
                study.sla_us,
                PublishHistory(list(ledger.publish_times), ledger.first_entered_us),
                array("q", entered),
            )
    return parts


def pending_entered(group: object, as_of_us: int) -> Iterator[int]:
    """Entry times of a group's entries pending as of T (``GroupLedger.backlog``'s set)."""
    for entries in group.pending.values():  # type: ignore[attr-defined]
        for key in entries:
            entered_us = entered_at(key)
            if entered_us <= as_of_us:
                yield entered_us
    for bucket, published in group.published.items():  # type: ignore[attr-defined]
        if group.max_published[bucket] <= as_of_us:  # type: ignore[attr-defined]
            continue
        for key, when in published.items():
            entered_us = entered_at(key)
            if entered_us <= as_of_us < when:
                yield entered_us


@dataclass(frozen=True, slots=True)
class DashboardAtRisk:
    """The report's figures of one study and dashboard as of T."""

    time_to_breach: TimeToBreach
    outlook: Outlook | None
    last_publish_us: int | None


def at_risk_from_parts(
    config: EngineConfig, parts: Iterable[dict[DashboardKey, AtRiskPart]], as_of_us: int
) -> dict[str, dict[str, DashboardAtRisk]]:
    """Per study and dashboard (sorted), merged over the parts of every engine."""
    merged: dict[DashboardKey, AtRiskPart] = {}
    for part in parts:
        for key, piece in part.items():
            into = merged.get(key)
            if into is None:
                merged[key] = AtRiskPart(
                    piece.sla_us,
                    PublishHistory(
                        list(piece.history.publish_times), piece.history.first_entered_us
                    ),
                    piece.pending_entered,
                )
                continue
            into.history.merge(piece.history.publish_times, piece.history.first_entered_us)
            into.pending_entered = array(
                "q", sorted([*into.pending_entered, *piece.pending_entered])
            )
    out: dict[str, dict[str, DashboardAtRisk]] = {}
    for study_id, dashboard in sorted(merged):
        piece = merged[(study_id, dashboard)]
        seen = dashboard_outlook(config, study_id, dashboard, piece.history, as_of_us)
        figures = _time_to_breach_of_sorted(
            piece.pending_entered,
            piece.sla_us,
            as_of_us,
            config.time_left_edges_us,
            None if seen is None else seen.next_publish_us,
        )
        last = publishes_as_of(piece.history.publish_times, as_of_us)
        out.setdefault(study_id, {})[dashboard] = DashboardAtRisk(
            figures, seen, last[-1] if last else None
        )
    return out


def _time_to_breach_of_sorted(
    entered: array[int],
    sla_us: int,
    as_of_us: int,
    edges_us: tuple[int, ...],
    next_publish_us: int | None,
) -> TimeToBreach:
    """``time_to_breach`` over ascending entry times (the same rule, counted by bisection)."""
    due = as_of_us - sla_us

    def before(instant: int) -> int:
        return bisect_left(entered, instant)

    bounds = [before(due), *(before(due + edge) for edge in edges_us)]
    by_time_left = (
        bounds[0],
        *(high - low for low, high in pairwise(bounds)),
        len(entered) - bounds[-1],
    )
    certain = None
    if next_publish_us is not None:
        certain = max(0, before(next_publish_us - sla_us) - bounds[0])
    first = bisect_right(entered, due - 1)  # the first entered ≥ due
    earliest = entered[first] + sla_us if first < len(entered) else None
    return TimeToBreach(by_time_left, earliest, certain, next_publish_us)
