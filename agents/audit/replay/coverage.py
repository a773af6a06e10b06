"""What a replay covered: what each partition gave, since when every topic is complete, the period.

``complete_since`` is the earliest instant from which every input topic is known
complete. A partition read from offset 0 (its log start, nothing removed) is
complete from the beginning. A partition whose reading began above 0 (retention,
compaction or ``delete_records`` took the data before it, or an export of a chain
began where the previous one ended) is complete only from the Kafka timestamp of
its first message read: every removed message was appended before it, and an
event is never appended before it happened, so any event at or after that instant
is still there. An export's ``--since`` filter bounds it the same way. A plain
JSONL file without its manifest: coverage unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.audit.manifest import PartitionRead
from schemas import EntryEvent, Event, PublishEvent, QueryEvent
from schemas.timestamps import format_timestamp, parse_timestamp_us

COMPLETE, INCOMPLETE, UNKNOWN = "complete", "incomplete", "unknown"


@dataclass(slots=True)
class EventTimes:
    """Earliest and latest event time per input topic, and the events outside the period."""

    topics: tuple[str, str, str]  # entries, queries, publishes
    period_start_us: int
    as_of_us: int
    earliest: dict[str, int] = field(default_factory=dict)
    latest: dict[str, int] = field(default_factory=dict)
    before_period: int = 0
    after_as_of: int = 0
    first_in_period: int | None = None  # the earliest event time at or after period_start_us

    def add(self, event: Event) -> None:
        kind = event.__class__
        if kind is EntryEvent:
            topic, time_us = self.topics[0], event.entered_at  # type: ignore[union-attr]
        elif kind is PublishEvent:
            topic, time_us = self.topics[2], event.published_at  # type: ignore[union-attr]
        elif kind is QueryEvent:
            topic, time_us = self.topics[1], event.occurred_at  # type: ignore[union-attr]
        else:  # a pipeline stage: carried by the publish topic (docs/contract.md)
            topic, time_us = self.topics[2], event.completed_at  # type: ignore[union-attr]
        if topic not in self.earliest or time_us < self.earliest[topic]:
            self.earliest[topic] = time_us
        if topic not in self.latest or time_us > self.latest[topic]:
            self.latest[topic] = time_us
        if time_us < self.period_start_us:
            self.before_period += 1
            return
        if time_us > self.as_of_us:
            self.after_as_of += 1
        if self.first_in_period is None or time_us < self.first_in_period:
            self.first_in_period = time_us

    def counts(self) -> dict[str, Any]:
        """What ``merge`` takes: this instance's times and counts (for ``replay --jobs``)."""
        return {
            "earliest": self.earliest,
            "latest": self.latest,
            "before_period": self.before_period,
            "after_as_of": self.after_as_of,
            "first_in_period": self.first_in_period,
        }

    def merge(self, counts: dict[str, Any]) -> None:
        """Adds another instance's ``counts``, over other events of the same period."""
        for topic, time_us in counts["earliest"].items():
            if topic not in self.earliest or time_us < self.earliest[topic]:
                self.earliest[topic] = time_us
        for topic, time_us in counts["latest"].items():
            if topic not in self.latest or time_us > self.latest[topic]:
                self.latest[topic] = time_us
        self.before_period += counts["before_period"]
        self.after_as_of += counts["after_as_of"]
        first = counts["first_in_period"]
        if first is not None and (self.first_in_period is None or first < self.first_in_period):
            self.first_in_period = first


def partition_facts(reads: dict[str, dict[int, PartitionRead]]) -> dict[str, dict[str, Any]]:
    return {
        t: {str(p): read.as_dict() for p, read in sorted(parts.items())}
        for t, parts in sorted(reads.items())
    }


def complete_since(
    partitions: dict[str, dict[str, Any]] | None, since_filter: str | None
) -> tuple[str, int | None, list[str]]:
    """(status, complete_since in µs or None, one reason per partition that is not whole)."""
    if partitions is None:
        return UNKNOWN, None, ["the input has no export manifest beside it"]
    bound: int | None = None
    reasons: list[str] = []
    for topic, parts in sorted(partitions.items()):
        for partition, read in sorted(parts.items(), key=lambda item: int(item[0])):
            if read["start"] == 0 and not read["missing"]:
                continue
            what = (
                f"{topic}[{partition}]: offsets {read['missing'][0]}–{read['missing'][1]} missing"
                if read["missing"]
                else f"{topic}[{partition}]: read from offset {read['start']}, "
                f"log start {read['log_start']}"
            )
            if read["first_timestamp"] is None:
                # Everything in it is gone: nothing at all is known complete.
                return INCOMPLETE, 1 << 62, [f"{what}, nothing left to read"]
            reasons.append(what)
            first_us = read["first_timestamp"] * 1000
            bound = first_us if bound is None else max(bound, first_us)
    if since_filter is not None:
        since_us = parse_timestamp_us(since_filter)
        reasons.append(f"the export kept only messages since {since_filter}")
        bound = since_us if bound is None else max(bound, since_us)
    if bound is None:
        return COMPLETE, None, []
    return INCOMPLETE, bound, reasons


def coverage_dict(
    partitions: dict[str, dict[str, Any]] | None,
    since_filter: str | None,
    times: EventTimes,
    period: dict[str, Any],
) -> dict[str, Any]:
    status, since_us, reasons = complete_since(partitions, since_filter)
    caveat = None
    period_start_us = parse_timestamp_us(period["since"]) if period["since"] else None
    if status == UNKNOWN:
        caveat = "Coverage unknown: " + reasons[0] + "; the figures may miss removed data."
    elif since_us is not None and (period_start_us is None or period_start_us < since_us):
        caveat = (
            f"The input is complete only since {_ts(since_us)}: figures for earlier "
            "windows, and latency/backlog counts that reach back before it, may miss data."
        )
    return {
        "status": status,
        "complete_since": None if since_us is None else _ts(since_us),
        "reasons": reasons,
        "caveat": caveat,
        "partitions": partitions,
        "event_time": {
            topic: {"earliest": _ts(times.earliest[topic]), "latest": _ts(times.latest[topic])}
            for topic in sorted(times.earliest)
        },
        "period": period,
    }


def _ts(us: int) -> str:
    return "never" if us >= 1 << 62 else format_timestamp(us)


def window_incomplete(window_start_us: int, coverage: dict[str, Any]) -> bool:
    """True when a window starts before the instant the input is complete from."""
    if coverage["status"] != INCOMPLETE:
        return False
    since = coverage["complete_since"]
    return since == "never" or window_start_us < parse_timestamp_us(since)


def mark_windows(report: dict[str, Any]) -> None:
    """``coverage_incomplete: true`` on each window that starts before ``complete_since``."""
    coverage = report["coverage"]
    for window in report["windows"]:
        if window_incomplete(parse_timestamp_us(window["start"]), coverage):
            window["coverage_incomplete"] = True


def period_dict(
    since_us: int, source: str, as_of_us: int, times: EventTimes, windows: int
) -> dict[str, Any]:
    return {
        "since": format_timestamp(since_us),
        "since_from": source,
        "as_of": format_timestamp(as_of_us),
        "windows": windows,
        "events_before_period": times.before_period,
        "events_after_as_of": times.after_as_of,
    }
