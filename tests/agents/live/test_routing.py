"""The router's decisions without Kafka: size bounds, event-time bounds, caps, byte-cut messages.

The fuzz property drives hostile input through the whole decode-and-route path:
every input is either routed (its items reach shard messages within the size
limit, decodable by the shards) or dead-lettered with a one-line reason; nothing
raises. ``make fuzz`` runs it with many more examples (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import os
from functools import partial

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.live.routing import Router
from agents.live.shard_wire import WireError, decode_batch
from agents.metrics.cardinality import CardinalityGate
from schemas import format_timestamp
from schemas.limits import message_bound, parse_bounded, skew_us
from streams import EngineConfig, StudyConfig
from streams.config import StageConfig
from streams.stages import UNKNOWN_STAGE_REASON, stage_problem
from tests.schemas.hostile import MARK, hostile_values, poison_message

BASE_US = 1_767_225_600_000_000  # 2026-01-01
HOUR_US = 3_600_000_000
FUZZ_EXAMPLES = 20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 2_000


# ONC-1's default dashboard has the stages extract, transform and load (the publish's).
STAGED = EngineConfig(studies={"ONC-1": StudyConfig(stages={"default": (
    StageConfig("extract", "site"), StageConfig("transform", "FSP-A"),
    StageConfig("load", "sponsor"),
)})})  # fmt: skip


def _router(max_bytes: int = 4096, skew: float | None = 3600.0, **caps: int) -> Router:
    gate = CardinalityGate(("ONC-1",), caps.get("studies", 3), caps.get("groups", 2))
    return Router(4, max_bytes, skew, gate, ("site",), 300.0, partial(stage_problem, STAGED))


def _entry(i: int, study: str = "ONC-1", site: str = "s1", at_us: int = BASE_US) -> bytes:
    return orjson.dumps({
        "schema": "edc.entry/1", "event_id": f"e{i}", "study_id": study, "site_id": site,
        "subject_id": "x", "form_id": "f", "record_id": f"r{i}",
        "entered_at": format_timestamp(at_us),
    })  # fmt: skip


def test_shard_messages_are_cut_by_bytes_and_keep_every_event_in_order():
    router = _router(max_bytes=2048)
    values = [(0, _entry(i)) for i in range(200)]
    routed = router.route(values, BASE_US)
    assert routed.valid == 200 and not routed.dead_letters
    assert all(len(payload) <= 2048 for _s, payload in routed.shard_messages)
    per_shard: dict[int, list[str]] = {}
    for shard, payload in routed.shard_messages:
        per_shard.setdefault(shard, []).extend(e.event_id for _t, _c, e in decode_batch(payload))
    assert sorted(i for ids in per_shard.values() for i in ids) == sorted(
        f"e{i}" for i in range(200)
    )
    for ids in per_shard.values():  # input order kept within each shard
        assert ids == sorted(ids, key=lambda x: int(x[1:]))


def test_an_oversized_value_is_rejected_with_its_size_and_never_parsed():
    router = _router(max_bytes=2048)
    big = b'{"schema": "edc.entry/1", "pad": "' + b"x" * 3000 + b'"}'
    routed = router.route([(0, _entry(1)), (0, big), (0, _entry(2))], BASE_US)
    assert routed.valid == 2
    assert routed.dead_letters == [
        (1, f"message too large: {len(big)} bytes (max_message_bytes is 2048)")
    ]


def test_an_event_ahead_of_its_message_time_is_refused_at_the_boundary():
    """Believed up to exactly max_future_skew after the message's timestamp, not 1 µs more."""
    router = Router(4, 4096, 3600.0, CardinalityGate((), 10, 10), ())
    stamp_ms = BASE_US // 1000
    at_bound = BASE_US + HOUR_US
    routed = router.route(
        [(0, _entry(1, at_us=at_bound)), (0, _entry(2, at_us=at_bound + 1))],
        BASE_US + 10 * HOUR_US,  # the wall clock later still: the message's time decides
        [stamp_ms, stamp_ms],
    )
    assert [i for i, _r in routed.dead_letters] == [1]
    assert routed.dead_letters[0][1].startswith(
        "event time: more than max_future_skew ahead of its message's timestamp"
    )


@given(ahead_h=st.integers(2, 24 * 365 * 30), steps=st.integers(1, 40))
def test_a_forged_create_time_cannot_carry_events_past_the_wall_clock(ahead_h, steps):
    """Issue 20: a producer's CreateTime in the future does not move the event clock."""
    router = Router(4, 4096, 3600.0, CardinalityGate((), 10, 10), ())
    forged = [(BASE_US + k * ahead_h * HOUR_US) // 1000 for k in range(1, steps + 1)]
    values = [(0, _entry(k, at_us=stamp * 1000)) for k, stamp in enumerate(forged)]
    routed = router.route(values, BASE_US, forged)
    assert routed.valid == 0
    assert {r.split(" (")[0] for _i, r in routed.dead_letters} == {
        "event time: more than max_future_skew ahead of the wall clock"
    }


def test_the_replay_refuses_the_same_event_with_the_same_words():
    stamp_ms = BASE_US // 1000
    live = _router().route(
        [(0, _entry(2, at_us=BASE_US + 5 * HOUR_US))], BASE_US + 9 * HOUR_US, [stamp_ms]
    )
    replayed = parse_bounded(
        _entry(2, at_us=BASE_US + 5 * HOUR_US), 4096, message_bound(stamp_ms, skew_us(3600))
    )
    assert live.dead_letters[0][1] == replayed.reason  # type: ignore[union-attr]


def test_studies_and_groups_beyond_the_caps_are_refused_and_counted():
    router = _router(studies=3, groups=2)
    values = [(0, _entry(i, study=f"S{i}")) for i in range(5)]  # ONC-1 configured + 2 admitted
    values += [(0, _entry(10 + i, site=f"site-{i}")) for i in range(4)]  # ONC-1: 2 groups
    routed = router.route(values, BASE_US)
    assert routed.valid == 4
    assert routed.over_cardinality == [2, 3, 4, 7, 8]
    assert router.gate.over == 5
    reasons = {reason for _i, reason in routed.dead_letters}
    assert reasons == {
        "study_id: over max_studies (3 studies admitted)",
        "breakdown group: over max_groups_per_study (2 groups admitted for this study)",
    }


_identifiers = st.text(max_size=12) | st.integers(-(2**63), 2**63 - 1) | st.none()
_documents = st.fixed_dictionaries(
    {
        "schema": st.sampled_from(["edc.entry/1", "edc.query/1", "dashboard.publish/1", "x"]),
        "event_id": _identifiers,
        "study_id": st.sampled_from(["A", "B", "C", "D", ""]) | _identifiers,
        "site_id": _identifiers,
        "record_id": _identifiers,
        "query_id": _identifiers,
        "subject_id": _identifiers,
        "form_id": _identifiers,
        "status": st.sampled_from(["opened", "answered", "closed", "bogus"]),
        "entered_at": st.sampled_from(["2026-01-01T00:00:00Z", "2062-01-01T00:00:00Z",
                                       "0000-01-01T00:00:00Z", "2026-01-01T23:59:60Z"]),
        "occurred_at": st.just("2026-01-02T00:00:00Z"),
        "published_at": st.just("2026-01-03T00:00:00Z"),
        "record_ids": st.lists(st.text(min_size=1, max_size=200), max_size=30) | st.none(),
    },
    optional={"data_cutoff": st.just("2026-01-02T00:00:00Z")},
)  # fmt: skip
_values = st.one_of(
    st.binary(max_size=300),
    st.none(),
    _documents.map(orjson.dumps),
    _documents.map(lambda d: orjson.dumps(d, option=orjson.OPT_INDENT_2)),
    st.builds(lambda n: b'{"schema":"edc.entry/1","p":"' + b"y" * n + b'"}', st.integers(0, 5000)),
)


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(st.tuples(st.integers(0, 2), _values), max_size=8))
def test_hostile_input_is_routed_or_rejected_in_one_line(values):
    router = _router(max_bytes=2048, studies=3, groups=3)
    routed = router.route(values, BASE_US)
    rejected = {index for index, _reason in routed.dead_letters}
    assert len(rejected) == len(routed.dead_letters)  # one fate per input
    assert routed.valid + len(rejected) == len(values)
    for _index, reason in routed.dead_letters:
        assert reason and "\n" not in reason and len(reason) < 300
    decoded = 0
    for shard, payload in routed.shard_messages:
        assert 0 <= shard < 4 and len(payload) <= 2048
        decoded += sum(1 for _t, counted, _e in decode_batch(payload) if counted)
    assert decoded == routed.valid  # each routed input is counted once, on the shards


@settings(
    max_examples=FUZZ_EXAMPLES // 4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(st.tuples(st.integers(0, 2), hostile_values()), max_size=6))
def test_hostile_documents_are_routed_or_rejected_and_never_raise(values):
    # Deep nesting anywhere, huge arrays, many keys, invalid UTF-8 (tests/schemas/hostile.py).
    router = _router(max_bytes=1 << 20, studies=3, groups=3)
    routed = router.route(values, BASE_US)
    rejected = {index for index, _reason in routed.dead_letters}
    assert routed.valid + len(rejected) == len(values) == routed.valid + len(routed.dead_letters)
    for _index, reason in routed.dead_letters:
        assert reason and "\n" not in reason and len(reason) < 300 and MARK not in reason
    for _shard, payload in routed.shard_messages:
        assert len(payload) <= 1 << 20
        decode_batch(payload)


def test_the_poison_message_is_dead_lettered_and_the_entries_behind_it_are_routed():
    values = [(0, poison_message())] + [(0, _entry(i)) for i in range(20)]
    routed = _router().route(values, BASE_US)
    assert routed.dead_letters == [(0, "not JSON: nested too deeply")]
    assert routed.valid == 20


@settings(
    max_examples=FUZZ_EXAMPLES // 4, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(hostile_values())
def test_hostile_shard_records_are_refused_in_one_line(payload):
    # What the shards read comes from the router, but anyone with produce rights on the
    # shard topic may write it: decode_batch refuses with WireError and nothing else.
    try:
        decode_batch(payload)
    except WireError as error:
        assert "\n" not in str(error) and MARK not in str(error)


def test_a_replay_of_an_export_reports_the_2062_entry_invalid_with_the_live_reason(tmp_path):
    """Judged on the message's timestamp the export keeps: the same words whatever --as-of."""
    import json
    from pathlib import Path

    from agents.audit.framing import EXPORT_HEADER, record_line
    from agents.cli import main

    sample = Path(__file__).parents[3] / "agents" / "data" / "sample-events.jsonl"
    stamp_ms = 1_767_916_800_000  # 2026-01-09, when every message was appended
    values = [*sample.read_bytes().splitlines(), _entry(99, at_us=2_911_000_000_000_000)]
    source = tmp_path / "with-2062.jsonl"
    source.write_bytes(EXPORT_HEADER + b"".join(
        record_line("edc.entries", 0, n, stamp_ms, value) for n, value in enumerate(values)
    ))  # fmt: skip
    plain_dir = tmp_path / "plain"
    assert main(["replay", "--input", str(sample), "--as-of", "2026-01-09T00:00:00Z",
                 "--quiet", "--out", str(plain_dir)]) == 0  # fmt: skip
    plain = json.loads((plain_dir / "report.json").read_bytes())
    live = _router().route([(0, values[-1])], stamp_ms * 1000 + 7 * HOUR_US, [stamp_ms])
    for as_of in ("2026-01-09T00:00:00Z", "2099-01-01T00:00:00Z", "2026-01-07T00:00:00Z"):
        out = tmp_path / as_of[:10]
        assert main(["replay", "--input", str(source), "--as-of", as_of, "--quiet",
                     "--out", str(out)]) == 0  # fmt: skip
        report = json.loads((out / "report.json").read_bytes())
        assert report["invalid"][-1] == {"line": len(values) + 1, "reason": live.dead_letters[0][1]}
        assert report["input"]["invalid"] == plain["input"]["invalid"] + 1
        assert report["input"]["event_time_bound"].startswith("event times more than")
        if as_of == "2026-01-09T00:00:00Z":
            assert report["studies"] == plain["studies"]  # nothing else moved
    assert plain["input"]["event_time_bound"].startswith("not checked: a plain JSONL")


@given(forged=st.booleans(), count=st.integers(1, 200))
def test_publishes_an_hour_apart_cannot_walk_the_clock_past_today(forged, count):
    """Issue 20's probe: publishes each dated 59 min after the previous, with an honest or a
    forged CreateTime, move neither the event clock nor the horizon past the wall clock +
    the skew, so an entry redelivered afterwards is still a duplicate."""
    from agents.live.shard_wire import decode_message
    from streams import DUPLICATE, Engine

    wall_us = BASE_US + 30 * 24 * HOUR_US
    router = Router(2, 1 << 20, 3600.0, CardinalityGate((), 10, 10), ())
    router.progress.assigned({(0, 0), (2, 0)}, wall_us)
    engines = [Engine(), Engine()]
    for engine in engines:
        engine.track_inputs()

    def feed(values, stamps, partitions):
        routed = router.route(values, wall_us, stamps, partitions)
        for shard, payload in routed.shard_messages:
            events, progress = decode_message(payload)
            outcomes = [engines[shard].apply(event) for _t, _c, event in events]
            if progress is not None:
                engines[shard].note_inputs(progress.marks, progress.partitions)
            yield from outcomes

    entry = _entry(1, at_us=wall_us - 8 * 24 * HOUR_US)
    list(feed([(0, entry)], [wall_us // 1000], [0]))
    publishes = []
    for k in range(1, count + 1):
        at_us = wall_us + k * 59 * 60 * 1_000_000
        publishes.append(orjson.dumps({
            "schema": "dashboard.publish/1", "event_id": f"p{k}", "study_id": "ONC-1",
            "published_at": format_timestamp(at_us), "record_ids": ["r1"],
        }))  # fmt: skip
    stamps = [
        (wall_us + k * 59 * 60 * 1_000_000) // 1000 if forged else wall_us // 1000
        for k in range(1, count + 1)
    ]
    list(feed([(2, p) for p in publishes], stamps, [0] * count))
    assert max(e.watermark_us or 0 for e in engines) <= wall_us + HOUR_US
    assert DUPLICATE in list(feed([(0, entry)], [wall_us // 1000], [0]))


def test_with_only_configured_studies_junk_study_ids_are_refused_and_take_no_place():
    from agents.settings import load_settings

    settings = load_settings(
        studies={"ONC-1": {"sla": "12h"}}, max_studies=2, admit_only_configured_studies=True
    )
    gate = CardinalityGate(
        settings.studies, settings.max_studies, settings.max_groups_per_study,
        settings.admit_only_configured_studies,
    )  # fmt: skip
    router = Router(4, 4096, 3600.0, gate, ())
    junk = [(0, _entry(i, study=f"junk-{i}")) for i in range(50)]
    routed = router.route([*junk, (0, _entry(99, study="ONC-1"))], BASE_US)
    assert routed.valid == 1 and routed.over_cardinality == list(range(50))
    assert {reason for _i, reason in routed.dead_letters} == {
        "study_id: not a configured study (admit_only_configured_studies is on)"
    }
    # Off (the default): the same junk fills max_studies and locks out a real new study.
    open_gate = CardinalityGate(settings.studies, 2, 500)
    routed = Router(4, 4096, 3600.0, open_gate, ()).route(
        [*junk, (0, _entry(100, study="ONC-2"))], BASE_US
    )
    assert routed.over_cardinality[-1] == 50


def _stage(i: int, stage: str, study: str = "ONC-1", dashboard: str = "default") -> bytes:
    return orjson.dumps({
        "schema": "pipeline.stage/1", "event_id": f"t{i}", "study_id": study,
        "dashboard": dashboard, "stage": stage, "completed_at": format_timestamp(BASE_US),
        "record_ids": [f"r{n}" for n in range(12)],
    })  # fmt: skip


def test_a_stage_event_of_no_configured_stage_is_dead_lettered_in_one_line():
    values = [
        (2, _stage(0, "transform")),
        (2, _stage(1, "reshape")),  # not configured
        (2, _stage(2, "load")),  # the publish completes the last stage
        (2, _stage(3, "extract", dashboard="safety")),  # a dashboard without stages
        (2, _stage(4, "extract", study="ONC-2")),  # a study without stages
    ]
    routed = _router().route(values, BASE_US)
    assert routed.dead_letters == [(i, UNKNOWN_STAGE_REASON) for i in (1, 2, 3, 4)]
    assert routed.valid == 1
    # Split by record like a record publish: each shard gets the records it holds.
    records = sorted(
        record
        for _shard, payload in routed.shard_messages
        for _t, _c, event in decode_batch(payload)
        for record in event.record_ids
    )
    assert records == sorted(f"r{n}" for n in range(12))
