"""Validation alone: message values in, events out, against ``orjson.loads`` of the same values.

``parse_event`` is where every input message starts, live and in the replay; the
floor is parsing the JSON without validating it. Also measured: the replay's whole
parse step (``parse_bounded`` in the reading process, the events' transfer to the
main process, ``schemas/wire.py``) and the shard wire (``routed_items`` in the
router, ``decode_batch`` in the shard), each in µs per event of the same mix.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import orjson

from agents.live.shard_wire import decode_batch, encode_batch, routed_items
from schemas import Rejection, parse_event, wire
from schemas.limits import parse_bounded


def _best_us(run: Callable[[], Any], count: int, rounds: int) -> float:
    """Best of ``rounds`` in µs per item: a neighbour's burst only ever slows a round down."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def _loads_all(values: list[bytes]) -> None:
    loads, error = orjson.loads, orjson.JSONDecodeError
    for value in values:
        try:  # noqa: SIM105 -- contextlib.suppress per value would weigh on the floor
            loads(value)
        except error:
            pass


def cost_per_event(values: list[bytes], rounds: int = 3) -> dict[str, float]:
    events = [e for e in map(parse_event, values) if not isinstance(e, Rejection)]
    decode_events = wire.decoder().decode

    def replay_parse_step() -> None:
        parsed = [parse_bounded(v, 1 << 20, None) for v in values]
        decode_events(wire.encode([e for e in parsed if e.__class__ is not Rejection]))

    def shard_wire() -> None:
        for n, event in enumerate(events):
            decode_batch(encode_batch([item for _s, item in routed_items(event, n % 3, 4)]))

    floor = _best_us(lambda: _loads_all(values), len(values), rounds)
    parse = _best_us(lambda: [parse_event(v) for v in values], len(values), rounds)
    return {
        "messages": len(values),
        "invalid": len(values) - len(events),
        "parse_event_us": round(parse, 3),
        "floor_orjson_loads_us": round(floor, 3),
        "ratio_to_floor": round(floor / parse, 3),
        "replay_parse_step_us": round(_best_us(replay_parse_step, len(values), rounds), 3),
        "shard_wire_round_trip_us": round(_best_us(shard_wire, len(events), rounds), 3),
    }
