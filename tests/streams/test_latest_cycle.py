"""latest_cycle: what queries.csv shows of a query (its state as of T, latest opening, and
the answer and close since then) equals what the fold's changes show, compiled and from
source alike."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import streams.queries
from streams.queries import AWAITING_DM, AWAITING_SITE, CLOSED, NEVER_OPENED, fold_values
from tests.interpreted_twin import interpreted

TWIN = interpreted(("streams.queries",), ("streams",))
FUNCTIONS = {
    "loaded": streams.queries.latest_cycle,
    "source": TWIN["streams.queries"].latest_cycle,
}
STATUSES = st.sampled_from(["opened", "answered", "closed", "cancelled"])


def _from_the_fold(events: list[tuple[int, int, str]], as_of_us: int) -> tuple:
    """queries.csv's values as the replay found them before: the fold's changes walked."""
    state, opened_us, _orphans, _answers, _closes, changes = fold_values(events, as_of_us)
    answered = closed = None
    for time_us, changed_to, opened in changes:
        if opened == time_us and changed_to == AWAITING_SITE:
            answered = closed = None  # (re)opened: earlier answers no longer hold
        elif changed_to == AWAITING_DM:
            answered = time_us
        elif changed_to == CLOSED:
            closed = time_us
    return state, opened_us, answered, closed


# A query's events: few instants, so ties, reopenings, orphans and late answers are common;
# sorted by time and then arrival, as a TrackedQuery keeps them.
query_histories = st.lists(st.tuples(st.integers(0, 12), STATUSES), max_size=12).map(
    lambda drawn: sorted((time, seq, status) for seq, (time, status) in enumerate(drawn))
)


@settings(max_examples=500, deadline=None)
@given(query_histories, st.integers(-1, 13))
def test_the_latest_cycle_is_what_the_folds_changes_show(events, as_of):
    expected = _from_the_fold(events, as_of)
    for function in FUNCTIONS.values():
        assert function(events, as_of) == expected


def test_a_reopening_forgets_the_answer_and_close_before_it():
    events = [(1, 1, "answered"), (2, 2, "opened"), (3, 3, "answered"), (4, 4, "closed"),
              (5, 5, "answered"), (6, 6, "opened"), (7, 7, "answered"), (8, 8, "answered")]  # fmt: skip
    for function in FUNCTIONS.values():
        assert function(events, 0) == (NEVER_OPENED, None, None, None)
        assert function(events, 1) == (NEVER_OPENED, None, None, None)  # an orphan
        assert function(events, 3) == (AWAITING_DM, 2, 3, None)
        assert function(events, 5) == (CLOSED, 2, 3, 4)  # answering a closed query: nothing
        assert function(events, 6) == (AWAITING_SITE, 6, None, None)
        assert function(events, 8) == (AWAITING_DM, 6, 8, None)  # answered again: the latest
