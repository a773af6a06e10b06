"""Engines fed disjoint shards answer together what one engine fed everything answers
(streams/parts.py, ``window_parts``/``merge_windows``, ``scorecard_grains``; the replay's
``--jobs``). The shards are cut as the live partitioning cuts them: an entry with every
publish that can cover it (here: by study), a query with all its events (by query id, so
a study's queries and its entries often sit in different engines)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import QueryEvent
from streams import Engine, tumbling_windows
from streams.parts import merge_snapshots, snapshot_parts
from streams.queries import Changes, fold_values
from streams.scorecards import merge_scorecard_grains, scorecard_grains, scorecards
from streams.windows import merge_windows, window_parts
from tests.streams import brute_force
from tests.streams.shapes import scorecards_dict, snapshot_dict, windows_list
from tests.streams.strategies import DAY, HOUR, arrivals, engine_config, instants

BREAKDOWN = ("site", "country", "vendor")
SHARDS = 3


def shard_of(event: object) -> int:
    if isinstance(event, QueryEvent):
        return int(event.query_id[1:]) % SHARDS
    return 0 if event.study_id == "S1" else 1  # type: ignore[attr-defined]


def fed(events: list) -> tuple[Engine, list[Engine]]:  # type: ignore[type-arg]
    whole = Engine(engine_config(retention_us=None, breakdown=BREAKDOWN))
    shards = [Engine(engine_config(retention_us=None, breakdown=BREAKDOWN)) for _ in range(SHARDS)]
    for event in events:
        whole.apply(event)
        shards[shard_of(event)].apply(event)
    return whole, shards


@settings(max_examples=150, deadline=None)
@given(arrivals, instants, st.sampled_from([6 * HOUR, DAY]), st.none() | instants)
def test_shards_merged_answer_what_one_engine_answers(events, as_of, size, since):
    # Duplicates are found per shard: feed first occurrences, as the router's dedupe does.
    whole, shards = fed(brute_force.dedupe(events))
    merged = merge_snapshots(as_of, [snapshot_parts(s, as_of) for s in shards])
    assert snapshot_dict(merged) == snapshot_dict(whole.snapshot(as_of))

    earliest = min((s.earliest_us for s in shards if s.earliest_us is not None), default=None)
    parts = [window_parts(s, as_of, size, since_us=since) for s in shards]
    windows = merge_windows(parts, earliest, as_of, size, since_us=since)
    assert windows_list(windows) == windows_list(
        tumbling_windows(whole, as_of, size, since_us=since)
    )

    cards = merge_scorecard_grains(scorecard_grains(s, as_of) for s in shards)
    assert scorecards_dict(cards) == scorecards_dict(scorecards(whole, as_of))


def test_shards_sharing_a_study_a_site_and_orphans_merge_to_one_engines_answers():
    """By hand, what few drawn examples hold: one site's entries, breaches and queries in
    every shard, orphan query events of two studies in one shard."""
    from tests.streams.test_rules import H, entry, feed, query, records

    day = "2026-01-05T00:00:00Z"
    late = "2026-01-06T02:00:00Z"  # 26 h after the entries: over the 24 h SLA
    shards_messages = [
        [
            entry("e1", day, "a"), records("p1", late, ["a"]), query("o1", "Q1", "opened", day),
            query("o0", "Q0", "opened", "2026-01-04T23:00:00Z"),  # the others start on an edge
        ],
        [entry("e2", day, "b"), records("p2", late, ["b"]), query("o2", "Q2", "opened", day)],
        [
            entry("e3", day, "c"), records("p3", "2026-01-05T01:00:00Z", ["c"]),
            query("x1", "Q3", "answered", day), query("x2", "Q4", "closed", day, study="T"),
            entry("e4", day, "d"), records("p4", day, ["d"]),  # on an hour's start, latency 0
        ],
    ]  # fmt: skip
    whole = Engine(engine_config(retention_us=None, breakdown=BREAKDOWN))
    shards = [Engine(engine_config(retention_us=None, breakdown=BREAKDOWN)) for _ in range(3)]
    for shard, messages in zip(shards, shards_messages, strict=True):
        feed(shard, *messages)
        feed(whole, *messages)
    start = whole.earliest_us + H  # type: ignore[operator]
    # The instant of the first publishes (an hour's start), of the third, and days later.
    for as_of, within in ((start, 1), (start + H, 2), (whole.watermark_us + 3 * 24 * H, 2)):  # type: ignore[operator]
        merged = merge_snapshots(as_of, [snapshot_parts(s, as_of) for s in shards])
        assert snapshot_dict(merged) == snapshot_dict(whole.snapshot(as_of))
        assert (merged.as_of_us, merged.orphan_query_events) == (as_of, 2)
        assert merged.studies["S"].dashboards["default"].latency.within_sla == within
        cards = merge_scorecard_grains(scorecard_grains(s, as_of) for s in shards)
        assert scorecards_dict(cards) == scorecards_dict(scorecards(whole, as_of))
        parts = [window_parts(s, as_of, 6 * H) for s in shards]
        windows = merge_windows(parts, whole.earliest_us, as_of, 6 * H)
        assert windows_list(windows) == windows_list(tumbling_windows(whole, as_of, 6 * H))
    # Two shards (a study's latencies in exactly two parts), against an engine fed both.
    pair = Engine(engine_config(retention_us=None, breakdown=BREAKDOWN))
    feed(pair, *shards_messages[0], *shards_messages[1])
    as_of = pair.watermark_us
    merged = merge_snapshots(as_of, [snapshot_parts(s, as_of) for s in shards[:2]])  # type: ignore[arg-type]
    assert snapshot_dict(merged) == snapshot_dict(pair.snapshot(as_of))  # type: ignore[arg-type]
    assert merged.studies["S"].dashboards["default"].latency.count == 2


def test_a_dashboards_latencies_and_a_grains_old_queries_gather_every_group():
    """Two sites (two breakdown groups) on one dashboard, both published; two queries of
    one site open for more than 30 days: the parts keep every group's and every query's."""
    import orjson

    from tests.streams.test_rules import H, feed, query, records

    def entry_at(eid: str, site: str, record: str) -> bytes:
        return orjson.dumps({
            "schema": "edc.entry/1", "event_id": eid, "study_id": "S", "site_id": site,
            "subject_id": "x", "form_id": "VS", "record_id": record,
            "entered_at": "2026-01-05T00:00:00Z",
        })  # fmt: skip

    messages = [
        entry_at("e1", "DE-101", "a"), entry_at("e2", "FR-201", "b"),
        records("p1", "2026-01-05T02:00:00Z", ["a", "b"]),
        query("q1", "Q1", "opened", "2026-01-05T00:00:00Z"),
        query("q2", "Q2", "opened", "2026-01-05T01:00:00Z"),
    ]  # fmt: skip
    engine = Engine(engine_config(retention_us=None, breakdown=BREAKDOWN))
    feed(engine, *messages)
    as_of = engine.watermark_us + 40 * 24 * H  # type: ignore[operator]
    merged = merge_snapshots(as_of, [snapshot_parts(engine, as_of)])
    assert merged.studies["S"].dashboards["default"].latency.count == 2
    assert snapshot_dict(merged) == snapshot_dict(engine.snapshot(as_of))
    cards = merge_scorecard_grains([scorecard_grains(engine, as_of)])
    assert scorecards_dict(cards) == scorecards_dict(scorecards(engine, as_of))
    # Neither query names a vendor: both in the one unassigned vendor's card.
    vendors = cards.studies["S"].by_dimension["vendor"]
    assert [card.queries_over_30d for card in vendors.values()] == [2]


@settings(max_examples=150, deadline=None)
@given(arrivals, instants)
def test_the_scorecards_group_runs_give_the_snapshot_its_latencies(events, as_of):
    """The replay builds the snapshot's latencies from the scorecards' sorted group lists
    (agents/audit/replay/engine_parts.py): the same part as reading the groups again."""
    whole, shards = fed(brute_force.dedupe(events))
    for engine in (whole, *shards):
        runs: dict[tuple[str, str], list[list[int]]] = {}
        grains = scorecard_grains(engine, as_of, runs)
        assert snapshot_parts(engine, as_of, runs) == snapshot_parts(engine, as_of)
        assert runs == {
            (study_id, name): [sorted(group.latencies(as_of)) for group in ledger.groups.values()]
            for study_id, study in engine.studies.items()
            for name, ledger in study.dashboards.items()
        }
        assert scorecards_dict(merge_scorecard_grains([grains])) == scorecards_dict(
            scorecards(engine, as_of)
        )


@settings(max_examples=150, deadline=None)
@given(arrivals, instants, st.sampled_from([6 * HOUR, DAY]), st.none() | instants)
def test_the_scorecards_folds_give_the_windows_their_query_changes(events, as_of, size, since):
    """The replay folds each query once for the scorecards and the windows
    (agents/audit/replay/engine_parts.py), again as of T only a query with an event after
    T: the same parts as folding for each of them apart."""
    whole, shards = fed(brute_force.dedupe(events))
    for engine in (whole, *shards):
        changes: dict[str, list[Changes]] = {}
        grains = scorecard_grains(engine, as_of, None, changes)
        assert changes == {
            study_id: [fold_values(query.events)[5] for query in study.queries.queries.values()]
            for study_id, study in engine.studies.items()
        }
        assert scorecards_dict(merge_scorecard_grains([grains])) == scorecards_dict(
            scorecards(engine, as_of)
        )
        assert window_parts(engine, as_of, size, since_us=since, changes=changes) == window_parts(
            engine, as_of, size, since_us=since
        )
