"""A malformed checkpoint state is refused with the one line that names its place.

``streams/state_schema.py`` checks what the types cannot say (lengths of columns, counts
that must agree, indexes into other lists); each check here gets a state that breaks it
in one place (refused, with its reason word for word) and, where the rule is a bound, the
state at that bound (accepted, and the engine it restores answers like the original).
Nothing is lost by a refusal: the state is refused before any engine is built, and the
shard is rebuilt from its topic.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import orjson
import pytest

from schemas import Rejection, parse_event
from streams import Engine, EngineConfig, StudyConfig
from streams.config import StageConfig
from streams.latency import SEQ_MASK
from streams.state import STATE_VERSION, StateError, check_state, decode_state
from streams.state_schema import decode
from tests.streams.shapes import snapshot_dict

HOUR = 3_600_000_000
DAY = 24 * HOUR
T0 = "2026-01-05T00:00:00Z"
STAGES = (StageConfig("transform", "FSP-A"), StageConfig("load", "sponsor"))
CONFIG = EngineConfig(
    default_study=StudyConfig(sla_us=DAY, dashboards=("default",), stages={"default": STAGES}),
    breakdown=("site",),
    retention_us=30 * DAY,
)


def _event(document: dict) -> object:  # type: ignore[type-arg]
    event = parse_event(orjson.dumps(document))
    assert not isinstance(event, Rejection), event
    return event


def _entry(n: int, at: str, site: str, visit_date: str | None = None) -> object:
    return _event({
        "schema": "edc.entry/1", "event_id": f"e{n}", "study_id": "S", "site_id": site,
        "subject_id": "x", "form_id": "f", "record_id": f"r{n}", "entered_at": at,
        **({"visit_date": visit_date} if visit_date else {}),
    })  # fmt: skip


def _query(n: int, query_id: str, site: str, status: str, at: str) -> object:
    return _event({
        "schema": "edc.query/1", "event_id": f"q{n}", "query_id": query_id, "study_id": "S",
        "site_id": site, "status": status, "occurred_at": at,
    })  # fmt: skip


def _covering(schema: str, n: int, at: str, **fields: object) -> object:
    """A stage event (``stage`` given) or a publish of record r1."""
    time_field = "completed_at" if "stage" in fields else "published_at"
    return _event({
        "schema": schema, "event_id": f"p{n}", "study_id": "S", time_field: at,
        "record_ids": ["r1"], "dashboard": "default", **fields,
    })  # fmt: skip


def _engine() -> Engine:
    """Every part a check reads: groups with pending and published hours, a pipeline with
    its stage ledger, query groups with an open query, and visit groups with values."""
    engine = Engine(CONFIG)
    for event in (
        _entry(1, "2026-01-05T00:00:00Z", "a", "2026-01-04"),
        _entry(2, "2026-01-05T01:00:00Z", "b", "2025-12-20"),
        _entry(3, "2026-01-05T02:00:00Z", "a"),
        _covering("pipeline.stage/1", 1, "2026-01-05T03:00:00Z", stage="transform"),
        _covering("dashboard.publish/1", 2, "2026-01-05T04:00:00Z"),
        _query(1, "Q1", "a", "opened", "2026-01-05T05:00:00Z"),
        _query(2, "Q2", "b", "opened", "2026-01-05T05:00:00Z"),
        _query(3, "Q2", "b", "answered", "2026-01-05T06:00:00Z"),
    ):
        engine.apply(event)  # type: ignore[arg-type]
    return engine


ENGINE = _engine()
STATE = orjson.loads(orjson.dumps(ENGINE.to_state()))
AS_OF = 1_767_600_000_000_000 + DAY  # a day after the events
STUDY = STATE["studies"][0]
DASHBOARD, QUERIES, PIPELINE, VISITS = STUDY[3][0], STUDY[4], STUDY[5][0], STUDY[6]


def test_the_state_holds_every_part_the_checks_read():
    groups = DASHBOARD[7]
    assert len(groups) == 2 and any(g[3] for g in groups) and any(g[4] for g in groups)
    assert len(PIPELINE[2]) == 1 and PIPELINE[2][0][7]  # the transform stage's ledger
    assert len(QUERIES[0]) == 2 and len(QUERIES[1]) == 2
    assert len(VISITS[3]) == 2 and all(g[4] for g in VISITS[3])
    assert STATE["event_ids"]["hour"] is not None
    tally = DASHBOARD[7][0][2]  # r1, published 4 h after its entry: within the SLA
    assert tally[1] == tally[3] == sum(tally[0]) == 1  # within_sla ≤ count, at equality


def _broken(change: Callable[[dict], object]) -> dict:  # type: ignore[type-arg]
    state = copy.deepcopy(STATE)
    change(state)
    return state


def _refusal(state: dict) -> str:  # type: ignore[type-arg]
    """The one-line reason, the same by every way a checkpoint is read."""
    reasons = set()
    for read in (
        lambda: decode_state(orjson.dumps(state), CONFIG),
        lambda: Engine.from_state(CONFIG, state),
    ):
        with pytest.raises(StateError) as refused:
            read()
        reasons.add(str(refused.value))
    (reason,) = reasons
    assert "\n" not in reason
    return reason


def _restores_alike(state: dict) -> Engine:  # type: ignore[type-arg]
    """Accepted by both ways in, and restores an engine whose state is what was read."""
    typed = decode_state(orjson.dumps(state), CONFIG)
    assert check_state(typed, CONFIG) is typed
    engine = Engine.from_state(CONFIG, state)
    assert Engine.from_state(CONFIG, typed).to_state() == engine.to_state() == state  # type: ignore[arg-type]
    return engine


def test_the_intact_state_restores_an_engine_that_answers_alike():
    engine = _restores_alike(STATE)
    assert snapshot_dict(engine.snapshot(AS_OF)) == snapshot_dict(ENGINE.snapshot(AS_OF))


def _set(path: tuple, value: object) -> Callable[[dict], None]:  # type: ignore[type-arg]
    def change(state: dict) -> None:  # type: ignore[type-arg]
        target = state
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _tally_of(path: tuple, **fields: int) -> Callable[[dict], None]:  # type: ignore[type-arg]
    """A tally whose fields are replaced (``bucket_counts`` as a list)."""
    index = {"bucket_counts": 0, "count": 1, "within_sla": 3}

    def change(state: dict) -> None:  # type: ignore[type-arg]
        target = state
        for step in path:
            target = target[step]
        for name, value in fields.items():
            target[index[name]] = value

    return change


GROUP = ("studies", 0, 3, 0, 7, 0)
QUERY_GROUP = ("studies", 0, 4, 0, 0)
VISIT_GROUP = ("studies", 0, 6, 3, 0)
D = "$.studies[0][3][0]"

REFUSALS = {
    "an event-id hour that is not filed": (
        _set(("event_ids", "hour"), STATE["event_ids"]["hour"] + 1),
        "$.event_ids.hour: not one of the hours filed",
    ),
    "a group key with a part too many": (
        _set((*GROUP, 0), ["a", "extra"]),
        f"{D}[7][0][0]: one key part per breakdown dimension",
    ),
    "a group key with a part missing": (
        _set((*GROUP, 0), []),
        f"{D}[7][0][0]: one key part per breakdown dimension",
    ),
    "a group tally with a bucket too many": (
        lambda s: s["studies"][0][3][0][7][0][2][0].append(0),
        f"{D}[7][0][2]: a tally does not match its bucket bounds",
    ),
    "a group tally with a bucket missing": (
        lambda s: s["studies"][0][3][0][7][0][2][0].pop(),
        f"{D}[7][0][2]: a tally does not match its bucket bounds",
    ),
    "a group tally counting more within the SLA than it holds": (
        _tally_of((*GROUP, 2), within_sla=STATE["studies"][0][3][0][7][0][2][1] + 1),
        f"{D}[7][0][2]: a tally's counts disagree",
    ),
    "a group tally whose buckets add up to more than its count": (
        _tally_of((*GROUP, 2), count=STATE["studies"][0][3][0][7][0][2][1] - 1, within_sla=0),
        f"{D}[7][0][2]: a tally's counts disagree",
    ),
    "a group tally whose buckets add up to less than its count": (
        _tally_of((*GROUP, 2), count=STATE["studies"][0][3][0][7][0][2][1] + 1),
        f"{D}[7][0][2]: a tally's counts disagree",
    ),
    "a query group's answer tally with a bucket missing": (
        lambda s: s["studies"][0][4][0][0][1][0].pop(),
        "$.studies[0][4][0][0][1]: a tally does not match its bucket bounds",
    ),
    "a query group's close tally with a bucket missing": (
        lambda s: s["studies"][0][4][0][0][2][0].pop(),
        "$.studies[0][4][0][0][2]: a tally does not match its bucket bounds",
    ),
    "a query group key with a part too many": (
        _set((*QUERY_GROUP, 0), ["a", "b"]),
        "$.studies[0][4][0][0][0]: one key part per breakdown dimension",
    ),
    "a pipeline with a stage ledger too many": (
        lambda s: s["studies"][0][5][0][2].append(s["studies"][0][5][0][2][0]),
        "$.studies[0][5][0]: one ledger per stage before the publish",
    ),
    "a pipeline without its stage ledger": (
        _set(("studies", 0, 5, 0, 2), []),
        "$.studies[0][5][0]: one ledger per stage before the publish",
    ),
    "a visit group key with a part too many": (
        _set((*VISIT_GROUP, 0), ["a", "b"]),
        "$.studies[0][6][3][0][0]: one key part per breakdown dimension",
    ),
    "a visit group tally with a bucket too many": (
        lambda s: s["studies"][0][6][3][0][1][0].append(0),
        "$.studies[0][6][3][0][1]: a tally does not match its bucket bounds",
    ),
    "more entries over high than over medium": (
        _set((*VISIT_GROUP, 3), 1),  # over_medium 0: entered a day after its visit
        "$.studies[0][6][3][0]: threshold counts disagree",
    ),
    "more entries over medium than measured": (
        _set((*VISIT_GROUP, 2), 2),  # one entry measured in the group
        "$.studies[0][6][3][0]: threshold counts disagree",
    ),
    "a query of a group that does not exist": (
        _set(("studies", 0, 4, 1, 0, 1), 2),  # two groups: 0 and 1
        "$.studies[0][4][1][0][1]: no such query group",
    ),
    "an open query without its opening time": (
        _set(("studies", 0, 4, 1, 0, 4), None),
        "$.studies[0][4][1][0][4]: an open query without its opening time",
    ),
    "an answered query without its opening time": (
        _set(("studies", 0, 4, 1, 1, 4), None),
        "$.studies[0][4][1][1][4]: an open query without its opening time",
    ),
}


def _bad_events(events: list) -> Callable[[dict], None]:  # type: ignore[type-arg]
    return _set(("studies", 0, 4, 1, 0, 6), events)


def _events() -> list:  # type: ignore[type-arg]
    return list(QUERIES[1][0][6])  # [occurred_us, seq, status]


NOT_TRIPLES = "$.studies[0][4][1][0][6]: not (occurred_us, seq, status) triples"
REFUSALS |= {
    "query events cut short": (_bad_events(_events()[:2]), NOT_TRIPLES),
    "query events with a part too many": (_bad_events([*_events(), 1]), NOT_TRIPLES),
    "an event time written as text": (
        _bad_events(["x", *_events()[1:]]),
        NOT_TRIPLES,
    ),
    "a sequence number written as text": (
        _bad_events([_events()[0], "x", _events()[2]]),
        NOT_TRIPLES,
    ),
    "a status written as a number": (_bad_events([*_events()[:2], 1]), NOT_TRIPLES),
    "a negative sequence number": (_bad_events([_events()[0], -1, _events()[2]]), NOT_TRIPLES),
    "a second triple broken, the first intact": (
        _bad_events([*_events(), _events()[0], "x", _events()[2]]),
        NOT_TRIPLES,
    ),
}


def _pending_group(state: dict) -> list:  # type: ignore[type-arg]
    return next(g for g in state["studies"][0][3][0][7] if g[3])


def _published_group(state: dict) -> list:  # type: ignore[type-arg]
    return next(g for g in state["studies"][0][3][0][7] if g[4])


def _column_cut(group_of: Callable[[dict], list], part: int, column: int) -> Callable[[dict], None]:  # type: ignore[type-arg]
    """One column of a group's first hour (pending: part 3, published: part 4) a value short."""

    def change(state: dict) -> None:  # type: ignore[type-arg]
        group_of(state)[part][0][column].pop()

    return change


def _group_index(group_of: Callable[[dict], list]) -> int:  # type: ignore[type-arg]
    return STATE["studies"][0][3][0][7].index(group_of(STATE))


UNEQUAL = "columns of unequal length"
REFUSALS |= (
    {
        f"a pending hour without one of its {name}": (
            _column_cut(_pending_group, 3, column),
            f"{D}[7][{_group_index(_pending_group)}][3]: {UNEQUAL}",
        )
        for name, column in (("entry times", 1), ("sequence numbers", 2), ("record ids", 3))
    }
    | {
        f"a published hour without one of its {name}": (
            _column_cut(_published_group, 4, column),
            f"{D}[7][{_group_index(_published_group)}][4]: {UNEQUAL}",
        )
        for name, column in (
            ("entry times", 2),
            ("sequence numbers", 3),
            ("publish times", 4),
            ("record ids", 5),
        )
    }
    | {
        f"a visit hour without one of its {name}": (
            lambda s, column=column: s["studies"][0][6][3][0][4][0][column].pop(),
            f"$.studies[0][6][3][0][4]: {UNEQUAL}",
        )
        for name, column in (("entry times", 1), ("values", 2))
    }
)


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_malformed_state_is_refused_with_the_place_it_breaks(name):
    change, reason = REFUSALS[name]
    state = _broken(change)
    assert state != STATE
    assert _refusal(state) == f"malformed engine state: {reason}"


# -- the bounds of those checks, at the bound: accepted -----------------------------------


def _every_visit_over_high(state: dict) -> None:  # type: ignore[type-arg]
    for group in state["studies"][0][6][3]:
        group[2] = group[3] = group[1][1]


def _sequence_numbers_at_their_bounds(state: dict) -> None:  # type: ignore[type-arg]
    events = state["studies"][0][4][1][1][6]  # opened, answered: two triples
    # The key field holds SEQ_MASK; the layout's integers stop at 2**63 - 1 below it.
    events[1], events[4] = 0, min(SEQ_MASK, (1 << 63) - 1)


def _no_hour_open(state: dict) -> None:  # type: ignore[type-arg]
    state["event_ids"]["hour"] = None


@pytest.mark.parametrize(
    "change",
    [_every_visit_over_high, _sequence_numbers_at_their_bounds, _no_hour_open],
)
def test_a_state_at_the_bound_of_a_check_is_accepted_as_it_is(change):
    state = _broken(change)
    assert state != STATE
    _restores_alike(state)


def test_a_pipeline_of_one_stage_has_no_ledger_and_is_accepted():
    one_stage = EngineConfig(
        default_study=StudyConfig(
            sla_us=DAY, dashboards=("default",), stages={"default": (StageConfig("load", "x"),)}
        ),
        breakdown=("site",),
    )
    engine = Engine(one_stage)
    engine.apply(_entry(1, T0, "a"))  # type: ignore[arg-type]
    state = orjson.loads(orjson.dumps(engine.to_state()))
    assert state["studies"][0][5] == [["default", ["load"], []]]
    assert Engine.from_state(one_stage, state).to_state() == state


# -- the version, and what is not this layout at all --------------------------------------


def test_a_plain_state_of_another_version_or_no_version_is_refused_before_it_is_read():
    reason = f"not an engine state of version {STATE_VERSION}"
    for state in (
        {**STATE, "version": STATE_VERSION - 1},
        {**STATE, "version": STATE_VERSION + 1},
        {k: v for k, v in STATE.items() if k != "version"},
        [STATE],
    ):
        with pytest.raises(StateError, match=f"^{reason}$"):
            Engine.from_state(CONFIG, state)  # type: ignore[arg-type]


def test_bytes_that_are_not_json_or_nest_without_end_are_refused_in_one_line():
    for raw in (b"", b"{", b"not json", b'{"version": 4,' + b"[" * 100_000):
        with pytest.raises(StateError) as refused:
            decode_state(raw, CONFIG)
        assert str(refused.value) == ("malformed engine state: not JSON of the engine state layout")


def test_a_wrong_type_is_named_by_its_path_in_one_line_without_its_value():
    for value in ("a secret sla", str(DAY)):  # a dashboard's SLA; a number written as text
        state = _broken(_set(("studies", 0, 3, 0, 1), value))
        reason = _refusal(state)
        assert reason == (
            "malformed engine state: Expected `int`, got `str` - at `$.studies[0][3][0][1]`"
        )
    assert decode(orjson.dumps(STATE)).studies[0].sla_us == DAY


@pytest.mark.parametrize("country", ["", "de", "D"])
def test_a_last_entry_the_event_contract_refuses_is_refused_naming_its_field(country):
    state = _broken(_set(("last_entry", 4), country))
    with pytest.raises(StateError) as refused:
        Engine.from_state(CONFIG, state)
    assert str(refused.value) == "malformed engine state: $.last_entry: country out of range"
    restored = _restores_alike(_broken(_set(("last_entry", 4), "DE")))
    assert restored.last_entry is not None and restored.last_entry.country == "DE"
