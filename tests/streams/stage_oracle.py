"""The pipeline-stage rules restated naively, from docs/design.md ("Pipeline stages").

Lists and loops over every event for every instant asked; nothing of streams/stages.py.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise
from typing import Any

from schemas import EntryEvent, Event, PublishEvent, StageEvent
from tests.streams.boundaries import exists_as_of, record_publish_covers, snapshot_covers
from tests.streams.brute_force import dedupe, first_publish


def _rank(values: list[int], p: int) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(Fraction(p, 100) * len(ordered)) - 1]


def completion(entry: EntryEvent, stage_events: list[StageEvent], dashboard: str, stage: str,
               t: int) -> int | None:  # fmt: skip
    """The earliest completed_at (≤ T) of the stage's events covering the entry."""
    times = [
        s.completed_at
        for s in stage_events
        if s.study_id == entry.study_id and s.dashboard == dashboard and s.stage == stage
        and exists_as_of(s.completed_at, t)
        and (
            snapshot_covers(entry.entered_at, s.data_cutoff) if s.data_cutoff is not None
            else entry.record_id in s.record_ids  # type: ignore[operator]
            and record_publish_covers(entry.entered_at, s.completed_at)
        )
    ]  # fmt: skip
    return min(times) if times else None


def durations(entered: int, published: int, completions: list[int | None]) -> list[int]:
    """Completion instants clamped between the previous stage's and the publish; a missing
    stage completes when the one before it did."""
    instants = [entered]
    for c in completions:
        instants.append(instants[-1] if c is None else min(max(c, instants[-1]), published))
    instants.append(published)
    return [b - a for a, b in pairwise(instants)]


def waiting(completions: list[int | None]) -> int:
    done = [i for i, c in enumerate(completions) if c is not None]
    return done[-1] + 1 if done else 0


def charged(parts: list[int]) -> int:
    return parts.index(max(parts))  # the first of the largest


def pipelines(
    events: list[Event],
    stages: dict[tuple[str, str], tuple[tuple[str, str], ...]],
    slas: dict[str, int],
    t: int,
    group_of: Any = lambda entry: (),
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per study and dashboard with stages: the figures as of T, as plain values."""
    kept = dedupe(events)
    entries = [e for e in kept if isinstance(e, EntryEvent) and exists_as_of(e.entered_at, t)]
    publishes = [e for e in kept if isinstance(e, PublishEvent)]
    stage_events = [e for e in kept if isinstance(e, StageEvent)]
    fed = {e.study_id for e in kept}  # the engine knows a study once any event of it came
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (study, dashboard), configured in sorted(stages.items()):
        if study not in fed:
            continue
        names = [name for name, _owner in configured]
        sla = slas[study]
        per_stage: list[list[int]] = [[] for _ in names]
        pending = [0] * len(names)
        by_group: dict[tuple[str, ...], list[int]] = {}
        for entry in entries:
            if entry.study_id != study:
                continue
            cs = [completion(entry, stage_events, dashboard, n, t) for n in names[:-1]]
            published = first_publish(entry, publishes, dashboard, t)
            if published is None:
                pending[waiting(cs)] += 1
                continue
            parts = durations(entry.entered_at, published, cs)
            assert sum(parts) == published - entry.entered_at
            for i, d in enumerate(parts):
                per_stage[i].append(d)
            if published - entry.entered_at > sla:
                counts = by_group.setdefault(group_of(entry), [0] * len(names))
                counts[charged(parts)] += 1
        charged_total = [sum(c[i] for c in by_group.values()) for i in range(len(names))]
        owners: dict[str, int] = {}
        for (_name, owner), n in zip(configured, charged_total, strict=True):
            owners[owner] = owners.get(owner, 0) + n
        out.setdefault(study, {})[dashboard] = {
            "stages": [
                {
                    "name": name,
                    "owner": owner,
                    "count": len(per_stage[i]),
                    "p50_us": _rank(per_stage[i], 50),
                    "p95_us": _rank(per_stage[i], 95),
                    "max_us": max(per_stage[i]) if per_stage[i] else None,
                    "sum_us": sum(per_stage[i]),
                    "pending": pending[i],
                    "breaches_charged": charged_total[i],
                    "share_of_sla": Fraction(sum(per_stage[i]), len(per_stage[i]) * sla)
                    if per_stage[i]
                    else None,
                }
                for i, (name, owner) in enumerate(configured)
            ],
            "breaches": sum(charged_total),
            "breaches_by_owner": owners,
            "breaches_by_group": {k: tuple(v) for k, v in sorted(by_group.items())},
        }
    return out
