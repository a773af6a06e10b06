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
from collections import Counter
from dataclasses import dataclass
from heapq import heappush

from schemas.timestamps import US_PER_DAY, US_PER_HOUR
from streams.expiry import hour_heap, hours_before
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
    state, opened, orphans, answers, closes, changes = fold_values(events, as_of_us)
    return QueryFold(state, opened, orphans, tuple(answers), tuple(closes), tuple(changes))


# state, opened_us, orphans, answer durations, close durations, changes (as in QueryFold)
# A fold's changes: (occurred, state after it, opened) per event that changed the query.
Changes = list[tuple[int, int, int | None]]
FoldValues = tuple[int, int | None, int, list[int], list[int], Changes]


def fold_values(events: list[tuple[int, int, str]], as_of_us: int | None = None) -> FoldValues:
    """``fold``'s fields as plain values, the lists not copied into tuples: the replay's
    windows and scorecards fold every query, and building the frozen ``QueryFold`` (its
    ``__init__`` runs interpreted, compiled or not) cost a third of a fold."""
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
    return state, opened, orphans, answers, closes, changes


def latest_cycle(
    events: list[tuple[int, int, str]], as_of_us: int
) -> tuple[int, int | None, int | None, int | None]:
    """A query's state as of T, its latest opening, and the answer and close since that
    opening (None where there is none): what the replay's queries.csv writes of a query.

    ``fold_values`` walked the same way, keeping four values instead of the durations
    and changes (a list each, and a tuple per change): a reopening forgets the answer
    and close before it; an answer counts while open (the latest, if answered again
    while awaiting review); the close is the one that closed it (a closed query
    ignores everything but an opening); orphans count for nothing.
    """
    state, opened, answered, closed = NEVER_OPENED, None, None, None
    for occurred, _seq, status in events:
        if occurred > as_of_us:
            break
        if status == "opened":
            state, opened, answered, closed = AWAITING_SITE, occurred, None, None
        elif state in (NEVER_OPENED, CLOSED):
            continue
        elif status == "answered":
            state, answered = AWAITING_DM, occurred
        else:  # closed or cancelled
            state, closed = CLOSED, occurred
    return state, opened, answered, closed


class TrackedQuery:
    """Every retained event of one query, and where folding all of them leaves it.

    The fold is kept as plain fields and advanced one event at a time: events
    almost always arrive in occurred_at order, and re-folding the whole query
    per event made query events the most expensive kind.
    """

    __slots__ = (
        "answers",
        "closes",
        "events",
        "group_key",
        "last_us",
        "opened_us",
        "orphans",
        "state",
    )

    def __init__(self, group_key: QueryGroupKey, answers: Tally, closes: Tally) -> None:
        self.group_key = group_key
        self.events: list[tuple[int, int, str]] = []
        self.last_us = 0
        self.state = NEVER_OPENED
        self.opened_us: int | None = None
        self.orphans = 0
        # The group's tallies, held here to spare two dict look-ups per event.
        self.answers = answers
        self.closes = closes

    @property
    def folded(self) -> QueryFold:
        """The fold over every retained event, with its durations and changes."""
        return fold(self.events)

    def as_of(self, as_of_us: int) -> QueryFold:
        if as_of_us >= self.last_us:
            return QueryFold(self.state, self.opened_us, self.orphans)
        return fold(self.events, as_of_us)


class QueryLedger:
    """The queries of one study."""

    __slots__ = ("answer_tallies", "bounds_us", "by_last_hour", "close_tallies",
                 "last_hour_heap", "queries")  # fmt: skip

    def __init__(self, bounds_us: tuple[int, ...]) -> None:
        self.bounds_us = bounds_us
        self.queries: dict[str, TrackedQuery] = {}
        # For pruning without visiting every query (streams/expiry.py): hour of a query's
        # last event -> the queries filed under it when an event came (a query filed again
        # under a later hour, or forgotten, is skipped then), and those hours as a heap.
        # None until the first pruning: a replay never keeps them.
        self.by_last_hour: dict[int, list[str]] | None = None
        self.last_hour_heap: list[int] | None = None
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
            answers = self.answer_tallies.get(group_key)
            if answers is None:  # a group's two tallies are made together
                answers = self._tally(self.answer_tallies, group_key)
                self._tally(self.close_tallies, group_key)
            query = self.queries[query_id] = TrackedQuery(
                group_key, answers, self.close_tallies[group_key]
            )
        events = query.events
        # seq grows with arrival, so an event not older than the last one sorts last
        # (ties of occurred_at go by arrival) and only extends the fold.
        if events and occurred_us < events[-1][0]:
            self._reorder(query, (occurred_us, seq, status))
            if self.by_last_hour is not None:
                self._file_last(query_id, query.last_us)
            return
        events.append((occurred_us, seq, status))
        query.last_us = occurred_us
        # One step of fold(), on the fields.
        state = query.state
        if status == "opened":
            query.state = AWAITING_SITE
            query.opened_us = occurred_us
        elif state == NEVER_OPENED:
            query.orphans += 1
        elif state == CLOSED:
            pass  # answering or closing a closed query changes nothing
        elif status == "answered":
            if state == AWAITING_SITE:
                query.answers.add(occurred_us - query.opened_us)  # type: ignore[operator]
            query.state = AWAITING_DM
        else:  # closed or cancelled
            query.closes.add(occurred_us - query.opened_us)  # type: ignore[operator]
            query.state = CLOSED
        if self.by_last_hour is not None:
            self._file_last(query_id, occurred_us)

    def _file_last(self, query_id: str, last_us: int) -> None:
        """File a query that just had an event under the hour of its last one."""
        hour = last_us // US_PER_HOUR
        filed = self.by_last_hour.get(hour)  # type: ignore[union-attr]
        if filed is None:
            self.by_last_hour[hour] = [query_id]  # type: ignore[index]
            heappush(self.last_hour_heap, hour)  # type: ignore[arg-type]
        else:
            filed.append(query_id)

    def _reorder(self, query: TrackedQuery, event: tuple[int, int, str]) -> None:
        """A late event lands inside the history: re-fold, and correct the tallies by the difference.

        Durations that no longer hold are withdrawn, not removed: exported histogram
        series never decrease (streams/tally.py); new ones are added.
        """
        before = fold(query.events)
        insort(query.events, event)
        after = fold(query.events)
        query.state, query.opened_us, query.orphans = after.state, after.opened_us, after.orphans
        for tally, old, new in (
            (query.answers, before.answer_durations_us, after.answer_durations_us),
            (query.closes, before.close_durations_us, after.close_durations_us),
        ):
            kept = Counter(new)
            for duration in old:
                if kept[duration]:
                    kept[duration] -= 1  # unchanged: neither withdrawn nor added again
                else:
                    tally.withdraw(duration)
            for duration in new:
                if kept[duration]:
                    kept[duration] -= 1
                    tally.add(duration)

    def figures(self, as_of_us: int) -> tuple[dict[QueryGroupKey, QueryFigures], int]:
        """Open queries per group as of T, and the orphan events seen up to T."""
        counts: dict[QueryGroupKey, list[int]] = {}
        oldest: dict[QueryGroupKey, int] = {}
        orphans = 0
        for query in self.queries.values():
            if as_of_us >= query.last_us:
                state, opened_us = query.state, query.opened_us
                orphans += query.orphans
            else:
                folded = fold(query.events, as_of_us)
                state, opened_us = folded.state, folded.opened_us
                orphans += folded.orphans
            if state not in (AWAITING_SITE, AWAITING_DM):
                continue
            row = counts.setdefault(query.group_key, [0] * 14)
            row[state - 1] += 1
            age = as_of_us - opened_us  # type: ignore[operator]
            bucket = aging_bucket(age)
            row[2 + bucket] += 1
            row[6 + (state - 1) * 4 + bucket] += 1
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
        queries, filed = self.queries, self.by_last_hour
        heap = self.last_hour_heap
        if filed is None or heap is None:
            filed = self.by_last_hour = {}
            for query_id, query in queries.items():
                filed.setdefault(query.last_us // US_PER_HOUR, []).append(query_id)
            heap = self.last_hour_heap = hour_heap(filed)
        # Quiet since before the horizon: last event in an hour wholly before it (unfiled
        # now: a query still open then is filed again by its next event, the only thing that
        # can close it) or in the horizon's own hour (which stays filed).
        limit_hour = horizon_us // US_PER_HOUR
        visit = [filed.pop(hour) for hour in hours_before(heap, limit_hour, filed)]
        if limit_hour in filed:
            visit.append(filed[limit_hour])
        for query_ids in visit:
            for query_id in query_ids:
                query = queries.get(query_id)
                if (
                    query is not None
                    and query.last_us < horizon_us
                    and query.state in (CLOSED, NEVER_OPENED)
                ):
                    del queries[query_id]
