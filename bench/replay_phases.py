"""The replay's phases one after the other in one process, each with its CPU and wall time.

    python -m bench.replay_phases FILE [--as-of T] [--config deploy/simulated-studies.toml]

The steps of ``replay --jobs 1`` (``agents/audit/replay/feed.py``, ``one_engine``) run
here in sequence, in one process, so each phase's cost is its own: reading the file
(with its SHA-256), validating every line (``schemas/``), the transfer of the valid
events between the reading and the engine's process (``schemas/wire.py``: encoded and
decoded in chunks as ``pipeline.py`` sends them), the engine with the coverage's event
times and the rows kept for entries.csv, entries.csv, queries.csv, the engines' parts
of the figures (``engine_parts.py``), and the merge with report.json, report.html and
the other CSVs. In the replay itself the reading and validation run in a second
process beside the engine, and the two CSVs in a third beside the parts and the report.
With ``EDC_LATENCY_INTERPRETED=1`` the modules run from their source.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agents.audit.framing import parse_plain
from agents.audit.replay import command
from agents.audit.replay.engine_parts import engine_parts
from agents.audit.replay.feed import Fed
from agents.audit.replay.pipeline import CHUNK_LINES
from agents.audit.replay.reader import InputSummary
from agents.audit.replay.tables import EntryRows, entries_csv, queries_csv
from bench.realistic_mix import AS_OF
from schemas import EntryEvent, Event, QueryEvent, Rejection, wire
from schemas.compiled import summary as compiled_summary
from streams import ACCEPTED, Engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--as-of", default=AS_OF)
    parser.add_argument("--config", default="deploy/simulated-studies.toml")
    given = parser.parse_args()
    gc.disable()  # as the replay runs (command.py, _cyclic_gc_paused)
    phases: dict[str, tuple[float, float]] = {}

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        phases[name] = (time.process_time() - cpu, time.perf_counter() - wall)

    with tempfile.TemporaryDirectory(prefix="edc-phases-") as out:
        args = argparse.Namespace(
            input=str(given.input), from_topics=False, as_of=given.as_of, window="1d",
            since=None, require_complete=False, sla=None, config=given.config, out=out,
            quiet=True, jobs=1,
        )  # fmt: skip
        job = command._job(args)
        with phase("read + split + SHA-256"):
            data = given.input.read_bytes()
            hexdigest = hashlib.sha256(data).hexdigest()
            lines = data.splitlines(keepends=True)
            del data
        max_bytes, allowed_us = job.bounds
        with phase("parse and validate (schemas/)"):
            parsed = (parse_plain(line, max_bytes, allowed_us) for line in lines)
            valid: list[Event] = [e for e in parsed if e.__class__ is not Rejection]  # type: ignore[misc]
        decode = wire.decoder().decode
        with phase("transfer between processes (wire)"):
            events: list[Event] = []
            for start in range(0, len(valid), CHUNK_LINES):
                events.extend(decode(wire.encode(valid[start : start + CHUNK_LINES])))
        del valid
        engine, rows, sites = Engine(job.config), EntryRows(), {}
        with phase("engine (+ event times, entry rows)"):
            add_time = job.times.add
            for event in events:
                add_time(event)
                if engine.apply(event) != ACCEPTED:
                    continue
                if event.__class__ is EntryEvent:
                    rows.add(event, engine.last_entry_seq, engine.last_entry_group)  # type: ignore[arg-type]
                elif event.__class__ is QueryEvent:
                    sites.setdefault((event.study_id, event.query_id), event.site_id)  # type: ignore[union-attr]
        with phase("entries.csv"):
            entries_csv(rows, engine, job.as_of_us)
        with phase("queries.csv"):
            queries_csv(engine, sites, job.as_of_us)
        with phase("engine parts (windows, scorecards, …)"):
            parts = engine_parts(engine, job.as_of_us, job.window_us, job.since_of(job.times))
        summary = InputSummary(given.input.name, len(lines), len(events), hexdigest=hexdigest)
        fed = Fed(totals=engine, parts=[parts], summary=summary, framed=False)
        with phase("merge, report.json, report.html, other CSVs"):
            command._report(args, job, fed)
    total = sum(cpu for cpu, _wall in phases.values())
    print(f"{compiled_summary()}; {len(lines)} lines; CPU and wall seconds, µs of CPU per line")
    for name, (cpu, wall) in phases.items():
        print(
            f"{name:45} {cpu:6.2f} ({cpu / total:5.1%}) {wall:6.2f} {cpu / len(lines) * 1e6:6.2f}"
        )
    print(f"{'total':45} {total:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
