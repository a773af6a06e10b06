"""Write simulated EDC, publish and query events as JSONL, in arrival order.

The bundled sample was made with:
    edc-latency simulate --seed 7 --days 4 --invalid-rate 0.01 --duplicate-rate 0.01 \\
        --out agents/data/sample-events.jsonl
by the simulator before it gave vendors and countries their own behaviour (slower
vendor, slow query answers): the same command now writes a different file. The
sample is kept as it is, since reports of it are compared byte for byte.
"""

from __future__ import annotations

import argparse
import sys

from agents.errors import ConfigurationError
from agents.sim.simulator import Simulation
from schemas.timestamps import US_PER_DAY, parse_timestamp_us


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default="2026-01-05T00:00:00Z", help="RFC 3339")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--events", type=int, help="stop after about this many messages")
    parser.add_argument("--invalid-rate", type=float, default=0.0)
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--out", help="file to write (default: standard output)")


def run(args: argparse.Namespace) -> int:
    try:
        start = parse_timestamp_us(args.start)
    except ValueError as error:
        raise ConfigurationError(f"--start: {error}") from None
    simulation = Simulation(
        seed=args.seed,
        start_us=start,
        invalid_rate=args.invalid_rate,
        duplicate_rate=args.duplicate_rate,
    )
    out = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
    written = 0
    try:
        for _kind, value in simulation.events(int(args.days * US_PER_DAY)):
            out.write(value + b"\n")
            written += 1
            if args.events and written >= args.events:
                break
    finally:
        if args.out:
            out.close()
    print(f"{written} messages", file=sys.stderr)
    return 0
