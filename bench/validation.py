"""Validation alone: message values in, events out, against ``orjson.loads`` of the same values.

    python -m bench.validation [--messages N] [--rounds R]

``parse_event`` is where every input message starts, live and in the replay; the
floor is parsing the JSON without validating it. Both loops drop each result as they
go, so they do the same bookkeeping: what is measured is reading a message, not
keeping 200k results alive (BENCHMARKS.md, "Validation and the transfer", says why,
and ``parse_event_kept_us`` keeps the former measure: every event held in a list
against the same floor). Also measured: the transfer of the valid events between the
replay's processes (``schemas/wire.py``: encoded in the reading process, decoded in
the engine's, the replay's critical path), the replay's whole parse step
(``parse_bounded`` in the reading process, then that transfer) and the shard wire
(``routed_items`` in the router, ``decode_batch`` in the shard), each in µs per event
of the same mix.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from agents.live.shard_wire import decode_batch, encode_batch, routed_items
from schemas import Rejection, parse_event, wire
from schemas.compiled import summary as compiled_summary
from schemas.limits import parse_bounded


def simulated_values(n: int) -> list[bytes]:
    """``make bench``'s validation input: the simulator's first ``n`` messages, 1% invalid."""
    from agents.sim.simulator import Simulation

    mix = Simulation(seed=3, invalid_rate=0.01).events(3650 * 86_400_000_000)
    return [value for _kind, value in itertools.islice(mix, n)]


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


def _parse_all(values: list[bytes]) -> None:
    parse = parse_event
    for value in values:
        parse(value)


def cost_per_event(values: list[bytes], rounds: int = 3) -> dict[str, float]:
    events = [e for e in map(parse_event, values) if not isinstance(e, Rejection)]
    decode_events = wire.decoder().decode
    encoded = wire.encode(events)

    def replay_parse_step() -> None:
        parsed = [parse_bounded(v, 1 << 20, None) for v in values]
        decode_events(wire.encode([e for e in parsed if e.__class__ is not Rejection]))

    def shard_wire() -> None:
        for n, event in enumerate(events):
            decode_batch(encode_batch([item for _s, item in routed_items(event, n % 3, 4)]))

    floor = _best_us(lambda: _loads_all(values), len(values), rounds)
    parse = _best_us(lambda: _parse_all(values), len(values), rounds)
    kept = _best_us(lambda: [parse_event(v) for v in values], len(values), rounds)
    return {
        "messages": len(values),
        "invalid": len(values) - len(events),
        "parse_event_us": round(parse, 3),
        "floor_orjson_loads_us": round(floor, 3),
        "ratio_to_floor": round(floor / parse, 3),
        # The former measure: every event kept in a list, against the same floor.
        "parse_event_kept_us": round(kept, 3),
        "ratio_to_floor_kept": round(floor / kept, 3),
        "transfer_encode_us": round(_best_us(lambda: wire.encode(events), len(events), rounds), 3),
        "transfer_decode_us": round(_best_us(lambda: decode_events(encoded), len(events), rounds), 3),
        "replay_parse_step_us": round(_best_us(replay_parse_step, len(values), rounds), 3),
        "shard_wire_round_trip_us": round(_best_us(shard_wire, len(events), rounds), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    given = parser.parse_args()
    figures = cost_per_event(simulated_values(given.messages), given.rounds)
    print(json.dumps({"compiled": compiled_summary(), **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
