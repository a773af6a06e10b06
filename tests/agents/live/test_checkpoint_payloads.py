"""What a checkpoint payload must be before it is trusted: the probe's three forgeries, and more.

Each forgery is written as an attacker with produce rights would write it: a digest
that matches (unkeyed SHA-256 is public), headers that agree with the content.
"""

from __future__ import annotations

import json
import os

import cramjam
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.live.checkpoints import (
    chunk_messages,
    decompress_bounded,
    digest_problem,
    dump_engine,
    load_engine,
    payload_digest,
    zstd_declared_size,
)
from agents.metrics.collector import EngineCollector
from agents.settings import load_settings
from schemas import Rejection, parse_event
from streams import Engine
from streams.state import StateError
from tests.integration.workload import workload

CONFIG = load_settings().engine_config()
KEY, OLD_KEY = b"k" * 32, b"o" * 32
GIB = 1 << 30


def _engine(entries: int = 40) -> Engine:
    engine = Engine(CONFIG)
    for _kind, value in workload(entries=entries):
        event = parse_event(value)
        if not isinstance(event, Rejection):
            engine.apply(event)
    return engine


def _payload(envelope: dict) -> bytes:  # type: ignore[type-arg]
    # The standard library's JSON: it writes integers of any size, as an attacker may.
    return bytes(cramjam.zstd.compress(json.dumps(envelope).encode(), level=3))


def _envelope(engine: Engine, shard: int = 0, next_offset: int = 7) -> dict:  # type: ignore[type-arg]
    return {"shard": shard, "next_offset": next_offset, "engine": engine.to_state()}


def _reason(blob: bytes, max_state_bytes: int = 256 << 20) -> str:
    with pytest.raises(StateError) as refused:
        load_engine(blob, CONFIG, 0, 7, max_state_bytes)
    reason = str(refused.value)
    assert "\n" not in reason and len(reason) < 400
    return reason


# -- forgery 1: a field of the wrong type -------------------------------------------------


def test_a_clock_that_is_not_a_number_is_refused_with_where_it_is():
    envelope = _envelope(_engine())
    envelope["engine"]["clock"][0] = "not-a-number"
    reason = _reason(_payload(envelope))
    assert "$.engine.clock[0]" in reason
    assert "not-a-number" not in reason  # the value is never echoed


def _leaves(value: object, path: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, (*path, i))]
    return [path]


STATE = _engine(60).to_state()
LATER = [
    event
    for _kind, value in workload(seed=9, entries=15)
    if not isinstance(event := parse_event(value), Rejection)
]
LEAVES = _leaves(STATE)
hostile_values = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.recursive(
        st.integers(), lambda inner: st.lists(inner, min_size=1, max_size=2), max_leaves=40
    ),
)


# `make fuzz` runs it with many more examples.
FUZZ_EXAMPLES = 20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 400


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.sampled_from(LEAVES), hostile_values)
def test_any_leaf_replaced_by_anything_restores_alike_or_is_refused_in_one_line(path, value):
    state = orjson.loads(orjson.dumps(STATE))
    target = state
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    envelope = {"shard": 0, "next_offset": 7, "engine": state}
    try:
        engine = load_engine(_payload(envelope), CONFIG, 0, 7)
    except StateError as error:
        assert "\n" not in str(error)
        return
    # Accepted: then it is a state this engine carries on from, and scrapes, without raising.
    assert engine.to_state() == orjson.loads(orjson.dumps(engine.to_state()))
    for event in LATER:
        engine.apply(event)
    collector = EngineCollector(lambda: [engine], {}, lambda: engine.watermark_us or 0)
    assert collector.gather()()


# -- forgery 2: the decompression bomb ----------------------------------------------------


def _bomb(size: int) -> bytes:
    """A zstd frame of ``size`` zero bytes, made in 16 MiB steps (never held whole)."""
    compressor = cramjam.zstd.Compressor(level=3)
    step = bytes(16 << 20)
    for _ in range(size // len(step)):
        compressor.compress(step)
    return bytes(compressor.finish())


def _declaring(frame: bytes, declared: int) -> bytes:
    """The same frame, its header rewritten to declare ``declared`` bytes (8-byte size field)."""
    descriptor, window = frame[4], frame[5]
    assert descriptor == 0x00  # streamed: no size, a window byte, no dictionary, no checksum
    return frame[:4] + bytes([0xC0, window]) + declared.to_bytes(8, "little") + frame[6:]


BOMB = _bomb(4 * GIB)


def test_the_bomb_is_four_records_of_a_few_dozen_kilobytes_that_expand_to_four_gib():
    records = chunk_messages(0, 7, "bomb", BOMB)
    assert len(BOMB) < 4 * 40_000
    # As the probe wrote it: split in four records of about 22-33 KB.
    quarter = len(BOMB) // 4 + 1
    assert all(len(BOMB[i : i + quarter]) < 40_000 for i in range(0, len(BOMB), quarter))
    assert len(records) == 1  # (the worker's chunking would keep it in one)


def test_a_bomb_is_refused_before_anything_is_decompressed_or_parsed():
    # Streamed, no declared size: refused on its header.
    assert zstd_declared_size(BOMB) is None
    assert "declares its size" in _reason(BOMB)
    # Declaring its true size: refused on the size, before a byte is allocated.
    honest = _declaring(BOMB, 4 * GIB)
    assert zstd_declared_size(honest) == 4 * GIB
    assert "over checkpoint_max_state_bytes" in _reason(honest)


def test_a_frame_holding_more_than_it_declares_stops_at_the_declared_size():
    lying = _declaring(BOMB, 1 << 20)  # declares 1 MiB, holds 4 GiB: the buffer is 1 MiB
    assert "holds more than it declares" in _reason(lying)
    two_frames = bytes(cramjam.zstd.compress(b"{}")) * 2
    with pytest.raises(StateError):
        decompress_bounded(two_frames, 1 << 20)


@pytest.mark.parametrize("margin", [0, 1])
def test_the_size_limit_holds_at_its_boundary(margin):
    raw = orjson.dumps(_envelope(_engine()))
    blob = bytes(cramjam.zstd.compress(raw, level=3))
    limit = len(raw) - margin  # at the limit: accepted; one byte over: refused
    if margin:
        assert "over checkpoint_max_state_bytes" in _reason(blob, limit)
    else:
        assert load_engine(blob, CONFIG, 0, 7, limit).to_state() == _engine().to_state()


# -- forgery 3: an empty state at the real offset ------------------------------------------


def test_with_a_key_an_empty_state_at_the_real_offset_is_refused_unless_signed():
    forged = dump_engine(Engine(CONFIG), 0, 7)  # well-formed, the shard's real offset
    digest = payload_digest(forged, None)  # what anyone can compute
    assert digest_problem(forged, digest, [KEY]) == (
        "not signed, and a checkpoint signing key is configured"
    )
    signed_elsewhere = payload_digest(forged, b"x" * 32)  # a key the worker does not hold
    assert digest_problem(forged, signed_elsewhere, [KEY]) == (
        "signature matches none of the configured keys"
    )
    genuine = dump_engine(_engine(), 0, 7)
    assert digest_problem(genuine, payload_digest(genuine, KEY), [KEY]) is None
    # During a rotation: signed with the old key, accepted while the old key is listed.
    assert digest_problem(genuine, payload_digest(genuine, OLD_KEY), [KEY, OLD_KEY]) is None
    assert digest_problem(genuine, payload_digest(genuine, OLD_KEY), [KEY]) is not None
    # A signed checkpoint cannot be checked without a key: refused, not trusted blindly.
    assert digest_problem(genuine, payload_digest(genuine, KEY), []) is not None


def test_without_a_key_an_empty_state_at_the_real_offset_is_accepted():
    # The unkeyed digest only detects damage; anyone who may produce to the checkpoint
    # topic can compute it (docs/operations.md, "Checkpoint signing").
    forged = dump_engine(Engine(CONFIG), 0, 7)
    assert digest_problem(forged, payload_digest(forged, None), []) is None
    assert load_engine(forged, CONFIG, 0, 7).to_state() == Engine(CONFIG).to_state()
    digest = payload_digest(forged, None)
    damaged = digest[:-1] + (b"1" if digest.endswith(b"0") else b"0")  # always a different digest
    assert digest_problem(forged, damaged, []) is not None


def test_the_signature_is_in_the_digest_header_of_every_chunk():
    blob = dump_engine(_engine(), 0, 7)
    for _key, _value, headers in chunk_messages(0, 7, "c", blob, KEY):
        assert dict(headers)["digest"] == payload_digest(blob, KEY)
        assert dict(headers)["digest"].startswith(b"hmac-sha256:")
