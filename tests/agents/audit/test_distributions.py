"""report.html's latency distributions (agents/audit/replay/distributions.py): counted by
bisecting the ascending latencies of a snapshot part, as counting each value in its bucket
(``bucket_of``: the first bucket whose bound it does not exceed) would count them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.audit.replay.distributions import distributions_of
from agents.audit.replay.html import DISTRIBUTION_BOUNDS_S
from schemas.timestamps import US_PER_SECOND
from streams.figures import BacklogFigures, QueryFigures
from streams.parts import StudyPart
from streams.tally import bucket_of

BOUNDS_US = [b * US_PER_SECOND for b in DISTRIBUTION_BOUNDS_S]
# Every bound, one either side of it, and anything up to past the last.
latency = st.sampled_from([b + d for b in BOUNDS_US for d in (-1, 0, 1)] + [0]) | st.integers(
    0, 2 * BOUNDS_US[-1]
)
dashboards = st.dictionaries(st.sampled_from(["a", "b"]), st.lists(latency, max_size=40))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["S1", "S2"]), dashboards))
def test_each_latency_is_counted_in_the_first_bucket_whose_bound_it_does_not_exceed(studies):
    parts = {
        study_id: StudyPart(
            3600 * US_PER_SECOND,
            {name: (sorted(values), BacklogFigures(), None) for name, values in by_name.items()},
            QueryFigures(),
        )
        for study_id, by_name in studies.items()
    }
    expected = {}
    for study_id, by_name in studies.items():
        for name, values in by_name.items():
            counts = [0] * (len(BOUNDS_US) + 1)
            for value in values:
                counts[bucket_of(BOUNDS_US, value)] += 1
            expected[(study_id, name)] = counts
    assert distributions_of(parts) == expected


def test_a_latency_equal_to_a_bound_is_in_that_bound_s_bucket():
    values = [BOUNDS_US[0], BOUNDS_US[0] + 1, BOUNDS_US[-1], BOUNDS_US[-1] + 1]
    part = StudyPart(1, {"d": (values, BacklogFigures(), None)}, QueryFigures())
    assert distributions_of({"S": part}) == {("S", "d"): [1, 1, 0, 0, 0, 1, 1]}
