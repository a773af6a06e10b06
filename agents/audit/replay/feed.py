"""The replay's input side: the events fed to one engine, or by shard to N, answered as parts.

Both feeds answer the same thing (``Fed``): each engine's parts of the figures
(``engine_parts.py``), what the report says of the input, and entries.csv and
queries.csv written (or being written beside). ``command.py`` merges the parts and
writes the rest the same way whatever N: one engine is the N = 1 case of the merge.

* ``one_engine``: a file (read and parsed by a second process, ``pipeline.py``) or the
  topics, into one engine; the CSVs are written by a forked child while the main
  process answers the parts.
* ``by_shard``: a file, its lines split over N forked job processes by the live shard
  function (``parallel.py``); the CSVs are put back together in file order by a
  forked child while the main process receives the parts and writes the report.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from agents.audit.framing import EXPORT_HEADER
from agents.audit.manifest import PartitionRead
from agents.audit.replay.coverage import EventTimes
from agents.audit.replay.engine_parts import EngineParts, engine_parts
from agents.audit.replay.lines import InvalidLines
from agents.audit.replay.parallel import (
    JobFailed,
    ShardedResult,
    run_sharded,
    stop_tables,
    wait_tables,
)
from agents.audit.replay.pipeline import (
    ReaderFailed,
    TablesWriter,
    children_peak_rss_mib,
    read_events_pipelined,
    rss_mib,
    timed,
)
from agents.audit.replay.progress import Progress
from agents.audit.replay.reader import (
    CountingLines,
    InputSummary,
    first_of_each_id,
    read_events,
)
from agents.audit.replay.tables import EntryRows, entries_csv, queries_csv
from agents.settings import ConfigurationError, Settings
from schemas import EntryEvent, Event, QueryEvent
from streams import ACCEPTED, Engine, EngineConfig


class BadInput(ConfigurationError):
    """Bad arguments or an input that cannot be read: one line for the operator."""


@dataclass(slots=True)
class Fed:
    """What a feed answers, for the report."""

    totals: Engine  # the engine whose counters and configuration the report reads
    parts: list[EngineParts]  # per engine
    summary: InputSummary  # what the report says of the input: source, hash, line counts
    framed: bool  # an export with its header (its records carry message timestamps)
    # partition → facts of the topics read (--from-topics), for the coverage
    reads: dict[str, dict[int, PartitionRead]] | None = None
    # Waits for what still runs beside (the tables writer) and answers run.json's facts
    # of memory; ``stop`` ends it however the run ends.
    finish: Callable[[], dict[str, Any]] = dict
    stop: Callable[[], None] = lambda: None
    kept: list[object] = field(default_factory=list)  # the run's state (see command.py, gc)


@dataclass(frozen=True, slots=True)
class Job:
    """What both feeds need to know of the run."""

    settings: Settings
    config: EngineConfig
    as_of_us: int
    window_us: int
    bounds: tuple[int, int | None]  # the live router's: size, and future skew (µs or None)
    times: EventTimes  # filled with every valid event's time
    period: tuple[int, str | None]  # (earliest instant the period may start at, "--since" or None)
    since_of: Callable[[EventTimes], int]  # the period's start, once every event is read
    out: Path
    quiet: bool


def one_engine(job: Job, input_path: str | None) -> Fed:
    """Every event into one engine: from the file at ``input_path``, or the topics (None)."""
    settings, as_of = job.settings, job.as_of_us
    # The readers drop repeated event ids (reader.py, first_of_each_id): the engine need not.
    engine = Engine(job.config, ids_deduplicated=True)
    handle: BinaryIO | None = None  # a file: read and parsed by a second process
    reads: dict[str, dict[int, PartitionRead]] | None = None
    if input_path is None:
        from agents.audit.export import topic_lines
        from agents.kafka.broker_check import check_broker

        try:
            check_broker(settings)
        except ConfigurationError as error:
            raise BadInput(str(error)) from None
        summary = InputSummary(
            source="kafka:" + ",".join(sorted(settings.input_topics)),
            invalid=InvalidLines(settings.replay_max_invalid_listed),
        )
        reads = {}
        lines: Iterator[bytes] = topic_lines(settings, reads=reads)
        total_bytes = 0
        framed = True
    else:
        path = Path(input_path)
        try:
            handle = path.open("rb")
        except OSError as error:
            raise BadInput(f"--input {path}: {error.strerror}") from None
        summary = InputSummary(
            source=path.name, invalid=InvalidLines(settings.replay_max_invalid_listed)
        )
        total_bytes = os.fstat(handle.fileno()).st_size
        framed = handle.readline() == EXPORT_HEADER
        handle.seek(0)
    progress = Progress(total_bytes, enabled=not job.quiet and sys.stderr.isatty())
    rows = EntryRows()
    query_sites: dict[tuple[str, str], str] = {}
    events: Iterator[Event]
    if handle is None:
        counted = CountingLines(lines)
        source = counted if progress.enabled else lines  # the count only feeds the bar
        events = first_of_each_id(
            timed(
                read_events(
                    source, summary, lambda n: progress.show(n, counted.bytes), job.bounds
                ),
                job.times,
            ),
            summary,
        )
    else:
        # Parsing, and the event times, in a second process beside the engine
        # (agents/audit/replay/pipeline.py).
        events = read_events_pipelined(
            handle, summary, progress.show, job.bounds, job.times, drop_repeated=True
        )
    try:
        for event in events:
            outcome = engine.apply(event)
            if outcome != ACCEPTED:
                continue
            if event.__class__ is EntryEvent:
                rows.add(event, engine.last_entry_seq, engine.last_entry_group)  # type: ignore[arg-type]
            elif event.__class__ is QueryEvent:
                query_sites.setdefault((event.study_id, event.query_id), event.site_id)  # type: ignore[union-attr]
    except ReaderFailed as error:
        if error.unreadable:
            raise BadInput(f"--input {input_path}: {error}") from None
        raise
    progress.done(summary.lines, counted.bytes if handle is None else progress.read)
    engine.counters.duplicates = summary.duplicates
    reader_peak_mib = children_peak_rss_mib()  # only the reader has ended so far

    # The two CSVs are half of the work after the loop and read only the finished state:
    # a forked child writes them while this process answers the parts and the report.
    rss_at_fork_mib = rss_mib("VmRSS")
    tables = TablesWriter(job.out, lambda: {
        "entries.csv": entries_csv(rows, engine, as_of),
        "queries.csv": queries_csv(engine, query_sites, as_of),
    })  # fmt: skip
    try:
        parts = engine_parts(engine, as_of, job.window_us, job.since_of(job.times))
    except BaseException:
        tables.stop()
        raise

    def finish() -> dict[str, Any]:
        return _peak_rss_facts(reader_peak_mib, tables.wait(), rss_at_fork_mib)

    return Fed(
        totals=engine,
        parts=[parts],
        summary=summary,
        framed=framed,
        reads=reads,
        finish=finish,
        stop=tables.stop,
        kept=[engine, rows, query_sites, summary, parts],
    )


def by_shard(job: Job, input_path: str, jobs: int) -> Fed:
    """``--jobs N``: the engine work over N processes by shard (``parallel.py``).

    This process hashes the input meanwhile; the report reads counters and the
    configuration off an engine, so one holding the merged counters stands in for
    the single engine.
    """
    path = Path(input_path)
    if not path.is_file():
        raise BadInput(f"--input {path}: No such file")
    try:
        # The framing is told by the first line (agents/audit/framing.py): told once
        # here, since only the first range's job would see that line.
        with path.open("rb") as handle:
            framed = handle.readline() == EXPORT_HEADER
        sharded = run_sharded(
            path,
            jobs,
            job.out,
            job.config,
            job.as_of_us,
            job.window_us,
            job.bounds,
            lambda: _sha256_of(path),
            # Every job sees the audited period's floor, to count events against it
            # as on one engine; their counts are merged into it.
            times=job.times,
            framed=framed,
            since_of=job.since_of,  # type: ignore[arg-type]
            listed_max=job.settings.replay_max_invalid_listed,
        )
    except OSError as error:
        raise BadInput(f"--input {path}: {error.strerror}") from None
    except JobFailed as error:
        if error.unreadable:
            raise BadInput(f"--input {path}: {error}") from None
        raise
    try:
        return _sharded_fed(job, sharded, path, framed, jobs)
    except BaseException:
        stop_tables(sharded)
        raise


def _sharded_fed(job: Job, sharded: ShardedResult, path: Path, framed: bool, jobs: int) -> Fed:
    answers = sharded.answers
    totals = Engine(job.config)
    totals.counters.duplicates = answers[0].duplicates
    totals.counters.unknown_dashboard = sum(answer.unknown_dashboard for answer in answers)

    def finish() -> dict[str, Any]:
        writer = wait_tables(sharded)
        main = rss_mib("VmHWM")
        peaks = [answer.peak_rss_mib or 0.0 for answer in answers]
        # As for the tables writer (_peak_rss_facts): a job's resident set starts as
        # this process's at the fork, pages it shares until it writes them; each adds
        # its peak less that, and so does the tables' writer.
        at_fork = sharded.rss_mib_at_fork or 0.0
        added = sum(max(0.0, peak - at_fork) for peak in peaks)
        if writer is not None:
            added += max(0.0, writer - (sharded.rss_mib_at_tables_fork or 0.0))
        return {
            "jobs": jobs,
            # This process's peak plus what each child added: an upper bound when the
            # peaks did not coincide.
            "peak_rss_mib": None if main is None else round(main + added, 1),
            "peak_rss_mib_main": main,
            "peak_rss_mib_jobs": peaks,
            "rss_mib_at_jobs_fork": sharded.rss_mib_at_fork,
            "peak_rss_mib_tables_writer": writer,
            "rss_mib_at_tables_fork": sharded.rss_mib_at_tables_fork,
        }

    return Fed(
        totals=totals,
        parts=[answer.parts for answer in answers],
        summary=InputSummary(
            path.name, sharded.lines, sharded.valid, sharded.invalid, hexdigest=sharded.meanwhile
        ),
        framed=framed,
        finish=finish,
        stop=lambda: stop_tables(sharded),
        kept=[sharded, totals],
    )


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _peak_rss_facts(
    reader: float, writer: float | None, at_fork: float | None
) -> dict[str, float | None]:
    """Peak resident memory of the run: this process's, plus what each child added.

    A forked child's resident set starts as its parent's: the tables writer's peak
    counts the engine's state it shares with this process (the reader's, the few tens
    of MiB of the start). ``peak_rss_mib`` adds the writer's peak less this process's
    resident set when it forked, and the reader's whole peak: the sum of each
    process's peak, so an upper bound when the peaks did not coincide.
    """
    main = rss_mib("VmHWM")
    total = None
    if main is not None:
        added = writer - at_fork if writer is not None and at_fork is not None else 0.0
        total = round(main + reader + max(0.0, added), 1)
    return {
        "jobs": 1,
        "peak_rss_mib": total,
        "peak_rss_mib_main": main,
        "peak_rss_mib_reader": reader,
        "peak_rss_mib_tables_writer": writer,
        "rss_mib_at_tables_fork": at_fork,
    }
