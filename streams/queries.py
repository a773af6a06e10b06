"""The query-aging rules: a small state machine folded over each query's events.

Contract, version 1: as of T, apply a query's events with occurred_at ≤ T in
occurred_at order (ties: arrival order). ``opened`` makes it open, awaiting the
site (it reopens a closed query, and its age counts from this latest opening);
``answered`` moves an open query to awaiting data-management review; ``closed``
and ``cancelled`` close it. Events of a query not yet opened are orphans and
are ignored. Aging buckets by T − opened: ≤7d, ≤14d, ≤30d, >30d.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass

from schemas.timestamps import US_PER_DAY
from streams.figures import QueryFigures
from streams.tally import Tally

NEVER_OPENED, AWAITING_SITE, AWAITING_DM, CLOSED = 0, 1, 2, 3
STATE_NAMES = ("never_opened", "awaiting_site", "awaiting_dm", "closed")
AGING_LIMITS_US = (7 * US_PER_DAY, 14 * US_PER_DAY, 30 * US_PER_DAY)

QueryGroupKey = tuple[str, ...]


def aging_bucket(age_us: int) -> int:
    """Index into ``figures.AGING_BUCKETS`` for an open query of this age."""
    for index, limit in enumerate(AGING_LIMITS_US):
        if age_us <= limit:
            return index
    return len(AGING_LIMITS_US)


@dataclass(frozen=True, slots=True)
class QueryFold:
    """A query's state after applying its events up to some instant."""

    state: int
    opened_us: int | None
    orphans: int
    # (time to answer, time to close) durations produced along the way, for the histograms.
    answer_durations_us: tuple[int, ...] = ()
    close_durations_us: tuple[int, ...] = ()
    # Instants at which the state changed: (occurred_us, state, opened_us); the windows use them.
    changes: tuple[tuple[int, int, int | None], ...] = ()


def fold(events: list[tuple[int, int, str]], as_of_us: int | None = None) -> QueryFold:
    """Fold (occurred_us, arrival_seq, status) events, already sorted, up to as_of_us."""
    state, opened, orphans = NEVER_OPENED, None, 0
    answers: list[int] = []
    closes: list[int] = []
    changes: list[tuple[int, int, int | None]] = []
    for occurred, _seq, status in events:
        if as_of_us is not None and occurred > as_of_us:
            break
        if status == "opened":
            state, opened = AWAITING_SITE, occurred
        elif state == NEVER_OPENED:
            orphans += 1
            continue
        elif state == CLOSED:
            continue  # answering or closing a closed query changes nothing
        elif status == "answered":
            if state == AWAITING_SITE:
                answers.append(occurred - opened)  # type: ignore[operator]
            state = AWAITING_DM
        else:  # closed or cancelled
            closes.append(occurred - opened)  # type: ignore[operator]
            state = CLOSED
        changes.append((occurred, state, opened))
    return QueryFold(state, opened, orphans, tuple(answers), tuple(closes), tuple(changes))


class TrackedQuery:
    """Every retained event of one query, and its fold over all of them."""

    __slots__ = ("events", "folded", "group_key", "last_us")

    def __init__(self, group_key: QueryGroupKey) -> None:
        self.group_key = group_key
        self.events: list[tuple[int, int, str]] = []
        self.last_us = 0
        self.folded = QueryFold(NEVER_OPENED, None, 0)

    def as_of(self, as_of_us: int) -> QueryFold:
        return self.folded if as_of_us >= self.last_us else fold(self.events, as_of_us)


class QueryLedger:
    """The queries of one study."""

    __slots__ = ("answer_tallies", "bounds_us", "close_tallies", "queries")

    def __init__(self, bounds_us: tuple[int, ...]) -> None:
        self.bounds_us = bounds_us
        self.queries: dict[str, TrackedQuery] = {}
        # Cumulative over everything that arrived; corrected when a late event reorders a query.
        self.answer_tallies: dict[QueryGroupKey, Tally] = {}
        self.close_tallies: dict[QueryGroupKey, Tally] = {}

    def _tally(self, tallies: dict[QueryGroupKey, Tally], key: QueryGroupKey) -> Tally:
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally(self.bounds_us)
        return tally

    def apply(
        self, query_id: str, status: str, occurred_us: int, seq: int, group_key: QueryGroupKey
    ) -> None:
        query = self.queries.get(query_id)
        if query is None:
            query = self.queries[query_id] = TrackedQuery(group_key)
        before = query.folded
        insort(query.events, (occurred_us, seq, status))
        query.last_us = max(query.last_us, occurred_us)
        after = query.folded = fold(query.events)
        answers = self._tally(self.answer_tallies, query.group_key)
        closes = self._tally(self.close_tallies, query.group_key)
        for duration in before.answer_durations_us:
            answers.remove(duration)
        for duration in before.close_durations_us:
            closes.remove(duration)
        for duration in after.answer_durations_us:
            answers.add(duration)
        for duration in after.close_durations_us:
            closes.add(duration)

    def figures(self, as_of_us: int) -> tuple[dict[QueryGroupKey, QueryFigures], int]:
        """Open queries per group as of T, and the orphan events seen up to T."""
        counts: dict[QueryGroupKey, list[int]] = {}
        oldest: dict[QueryGroupKey, int] = {}
        orphans = 0
        for query in self.queries.values():
            folded = query.as_of(as_of_us)
            orphans += folded.orphans
            if folded.state not in (AWAITING_SITE, AWAITING_DM):
                continue
            row = counts.setdefault(query.group_key, [0] * 14)
            row[folded.state - 1] += 1
            age = as_of_us - folded.opened_us  # type: ignore[operator]
            bucket = aging_bucket(age)
            row[2 + bucket] += 1
            row[6 + (folded.state - 1) * 4 + bucket] += 1
            if age > oldest.get(query.group_key, -1):
                oldest[query.group_key] = age
        figures = {
            key: QueryFigures(
                awaiting_site=row[0],
                awaiting_dm=row[1],
                oldest_open_age_us=oldest[key],
                aging=(row[2], row[3], row[4], row[5]),
                aging_by_state=(tuple(row[6:10]), tuple(row[10:14])),
            )
            for key, row in counts.items()
        }
        return figures, orphans

    def prune(self, horizon_us: int) -> None:
        """Forget queries that are closed (or were never opened) and quiet since before the horizon."""
        for query_id in [
            qid
            for qid, q in self.queries.items()
            if q.last_us < horizon_us and q.folded.state in (CLOSED, NEVER_OPENED)
        ]:
            del self.queries[query_id]
