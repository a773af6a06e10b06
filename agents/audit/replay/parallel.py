"""``replay --jobs N``: the replay's work split over N processes by the live shard function.

Each of N forked job processes goes through three steps (the main process tells them when
every job has ended the previous one); the main process hashes the file meanwhile, then
merges what the jobs answer:

1. **parse**: job r reads the r-th of N byte ranges of the file (cut at line ends),
   validates its lines, and writes every valid event, routed as the live router routes
   it (``agents/live/shard_wire.py``: an entry by study and record, a query by study and query,
   a record-level publish split by record, a snapshot publish to every shard), to the
   file of its destination shard, and the event ids of its valid lines, in order,
   filed by the job that dedupes them (the id's ``hash`` modulo N).
2. **dedupe**: the replay keeps the first valid line of an event id whatever the shard
   (a conflicting duplicate, same id and other content, may route elsewhere), so each
   job reads the ids filed to it from every range in file order and lists the later
   lines of each id (every line of an id meets at one job: 1/N of the ids each); once
   all have, every job reads all N lists.
3. **apply**: job s feeds its shard's events, range after range (file order), to its
   own engine, then answers its parts of the figures (``streams/parts.py``), its rows of
   entries.csv (in a file) and queries.csv, and its latency distribution counts.

Merging is exact: latency lists are merged before percentiles are taken, backlogs and
queries added, rows put back in file order. The outputs are byte-identical to one
engine's (tests/agents/audit/test_replay_jobs.py). Files between the steps live in a
temporary directory beside the output, removed at the end. The tables (entries.csv,
queries.csv) go through those files too, put back together by a forked child of the
main process while it receives the parts and writes the report (``shard_tables.py``).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO
from zlib import crc32

import orjson
from msgspec.structs import replace

from agents.audit.framing import parse_plain, parse_record
from agents.audit.replay.coverage import EventTimes
from agents.audit.replay.engine_parts import EngineParts, engine_parts
from agents.audit.replay.lines import BoundedLines, InvalidLines, LongLine, blank, record_limit
from agents.audit.replay.pipeline import TablesWriter, _telling_the_main_process, rss_mib
from agents.audit.replay.reader import RepeatedIds
from agents.audit.replay.shard_tables import leave_tables, write_tables
from agents.audit.replay.tables import EntryRows, query_lines, write_entry_rows
from agents.errors import EdcLatencyError
from agents.live.shard_wire import shard_of
from schemas import EntryEvent, Event, PublishEvent, QueryEvent, Rejection, wire
from streams import ACCEPTED, UNKNOWN_DASHBOARD, UNKNOWN_STAGE, Engine, EngineConfig
from streams.parts import StudyPart

# Events per message in a shard's file: encoding and the file cost little per event.
CHUNK_EVENTS = 5_000

_PARSED, _GO, _DONE, _FAILED, _UNREADABLE, _MARKED = 0, 1, 2, 3, 4, 5
NO_BOUNDS: tuple[int, int | None] = (1 << 62, None)


class JobFailed(EdcLatencyError):
    """A job process could not go on: its traceback, or an OSError reading the input (``unreadable``)."""

    def __init__(self, message: str, unreadable: bool = False) -> None:
        super().__init__(message)
        self.unreadable = unreadable


@dataclass(slots=True)
class ShardAnswer:
    """What one job answers after its three steps; the main process receives it without
    the three tables' fields, which the job leaves in files (``shard_tables.py``)."""

    shard: int
    duplicates: int
    unknown_dashboard: int
    studies: dict[str, tuple[str, ...]]  # the studies it saw, with their dashboards
    parts: EngineParts  # its engine's parts of the figures
    entry_order: array[int]  # global ordinal (among valid lines) of each accepted entry event
    entry_ends: array[int]  # offset in this shard's entries.csv body after each one's rows
    queries: list[tuple[tuple[str, str], str]]  # queries.csv's rows, by (study, query id)
    peak_rss_mib: float | None = None


@dataclass(slots=True)
class ShardedResult:
    """The merged outcome, for the report; entries.csv and queries.csv are being
    written beside (``wait_tables``; ``stop_tables`` however the run ends)."""

    meanwhile: Any = None  # what the main process's own task answered
    rss_mib_at_fork: float | None = None  # this process's resident set when it forked them
    lines: int = 0
    valid: int = 0
    invalid: InvalidLines = field(default_factory=InvalidLines)
    answers: list[ShardAnswer] = field(default_factory=list)
    workdir: Path | None = None  # the jobs' files, removed once the tables are written
    tables: TablesWriter | None = None  # the child writing entries.csv and queries.csv
    rss_mib_at_tables_fork: float | None = None


def line_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges covering the file, each starting at a line start (some may be empty)."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as handle:
        for k in range(1, parts):
            offset = max(cuts[-1], size * k // parts)
            if offset > 0 and offset < size:
                handle.seek(offset - 1)
                # To the end of the line holding offset - 1, in pieces: a line may be huge.
                while (piece := handle.readline(1 << 16)) and piece[-1:] != b"\n":
                    pass
                offset = handle.tell()
            cuts.append(min(max(offset, cuts[-1]), size))
    cuts.append(size)
    return [(cuts[k], cuts[k + 1]) for k in range(parts)]


def routed(event: Event, shards: int) -> list[tuple[int, Event, bool]]:
    """(shard, the event or its part, whether this copy counts an unknown dashboard) per shard."""
    kind = event.__class__
    if kind is EntryEvent:
        return [(shard_of(event.study_id, event.record_id, shards), event, True)]  # type: ignore[union-attr]
    if kind is QueryEvent:
        return [(shard_of(event.study_id, event.query_id, shards), event, True)]  # type: ignore[union-attr]
    publish: PublishEvent = event  # type: ignore[assignment]
    if publish.data_cutoff is not None:
        return [(shard, publish, shard == 0) for shard in range(shards)]
    by_shard: dict[int, list[str]] = {}
    # shard_of(study, record) for each record, its study's part of the checksum taken
    # once: crc32 continues over the record's bytes (a publish may name many records).
    study_crc = crc32(f"{publish.study_id}\x1f".encode())
    for record_id in publish.record_ids or ():
        shard = crc32(record_id.encode(), study_crc) % shards
        by_shard.setdefault(shard, []).append(record_id)
    ordered = sorted(by_shard.items())
    return [
        (shard, replace(publish, record_ids=record_ids), k == 0)
        for k, (shard, record_ids) in enumerate(ordered)
    ]


def _write_message(handle: BinaryIO, payload: bytes) -> None:
    handle.write(len(payload).to_bytes(8, "little"))
    handle.write(payload)


_decode_chunk = wire.decoder(list[tuple[int, bool, Event]]).decode


def _read_chunks(path: Path) -> Iterator[list[tuple[int, bool, Event]]]:
    """A shard's file: messages of (valid-line index, counts, event), as ``parse_range`` wrote."""
    with path.open("rb") as handle:
        while header := handle.read(8):
            yield _decode_chunk(handle.read(int.from_bytes(header, "little")))


def parse_range(
    path: Path,
    span: tuple[int, int],
    shards: int,
    workdir: Path,
    index: int,
    bounds: tuple[int, int | None] = NO_BOUNDS,
    times: EventTimes | None = None,
    framed: bool = False,
    listed_max: int = 1 << 62,
) -> tuple[int, int, list[Any]]:
    """Step 1: (lines, valid lines, rejections with range-local line numbers: the first
    ``listed_max`` listed, the rest counted, as ``InvalidLines.as_message``).

    ``bounds``: (max_message_bytes, max_future_skew in µs or None), as ``read_events``.
    ``times``: fed every valid event, as on one engine. ``framed``: the file is an export
    of format 2 (its first line, the header, is skipped; every other holds a record)."""
    start, end = span
    max_bytes, allowed_us = bounds
    parse = parse_record if framed else parse_plain
    add_time = times.add if times is not None else None
    outputs = [(workdir / f"events-{index}-{s}").open("wb") for s in range(shards)]
    chunks: list[list[tuple[int, bool, Event]]] = [[] for _ in range(shards)]
    # Each valid line's event id, with its index, for the job that dedupes it (mark_repeats).
    owned_ids: list[list[str]] = [[] for _ in range(shards)]
    owned_at: list[list[int]] = [[] for _ in range(shards)]
    valid = -1
    invalid = InvalidLines(listed_max)
    lines = 0
    with path.open("rb") as handle:
        handle.seek(start)
        position = start
        # A line over the limit is passed over in pieces, never held (lines.py).
        limit = record_limit(max_bytes) if framed else max_bytes
        reader = iter(BoundedLines(handle, limit))
        while position < end:
            line = next(reader, None)
            if line is None:
                break
            lines += 1
            if line.__class__ is LongLine:
                position += line.raw  # type: ignore[union-attr]
                invalid.add(lines, line.rejection(max_bytes, framed).reason)  # type: ignore[union-attr]
                continue
            position += len(line)  # type: ignore[arg-type]
            if blank(line, limit):  # type: ignore[arg-type]
                continue  # blank lines are skipped, as read_events does
            if framed and start == 0 and lines == 1:
                continue  # the export's header line, as read_events skips it
            event = parse(line, max_bytes, allowed_us)  # type: ignore[arg-type]
            kind = event.__class__
            if kind is Rejection:
                invalid.add(lines, event.reason)  # type: ignore[union-attr]
                continue
            if add_time is not None:
                add_time(event)  # type: ignore[arg-type]
            valid += 1
            event_id = event.event_id  # type: ignore[union-attr]
            owner = hash(event_id) % shards
            owned_ids[owner].append(event_id)
            owned_at[owner].append(valid)
            # Entries and queries (~98% of a realistic audit) go to one shard: routed
            # here without the list ``routed`` makes for the rest.
            if kind is EntryEvent:
                shard = shard_of(event.study_id, event.record_id, shards)  # type: ignore[union-attr]
            elif kind is QueryEvent:
                shard = shard_of(event.study_id, event.query_id, shards)  # type: ignore[union-attr]
            else:
                for shard, part, counts in routed(event, shards):  # type: ignore[arg-type]
                    chunk = chunks[shard]
                    chunk.append((valid, counts, part))
                    if len(chunk) >= CHUNK_EVENTS:
                        _write_message(outputs[shard], wire.encode(chunk))
                        chunk.clear()
                continue
            chunk = chunks[shard]
            chunk.append((valid, True, event))  # type: ignore[arg-type]
            if len(chunk) >= CHUNK_EVENTS:
                _write_message(outputs[shard], wire.encode(chunk))
                chunk.clear()
    for output, chunk in zip(outputs, chunks, strict=True):
        if chunk:
            _write_message(output, wire.encode(chunk))
        output.close()
    for owner in range(shards):
        owned = [valid + 1, owned_at[owner], owned_ids[owner]]
        (workdir / f"ids-{index}-{owner}").write_bytes(orjson.dumps(owned))
    return lines, valid + 1, invalid.as_message()


def mark_repeats(workdir: Path, owner: int, ranges: int) -> None:
    """Step 2: the lines repeating an earlier event id among the ids this job owns, range
    after range (file order), to ``repeats-{owner}``: [valid lines per range, the
    repeating lines' indexes per range].

    The owner of an id is its ``hash`` modulo the jobs (``parse_range`` files it so):
    str hashes are salted per interpreter, and the jobs are forked from one, so they
    agree, and every line of an id meets its first at one job. Each job goes through
    1/N of the ids, where each used to go through all of them (~0.3 µs an id)."""
    repeated = RepeatedIds().repeats  # the duplicate rule, as the one-engine reader applies it
    sizes: list[int] = []
    repeats: list[list[int]] = []
    for index in range(ranges):
        size, indexes, ids = orjson.loads((workdir / f"ids-{index}-{owner}").read_bytes())
        sizes.append(size)
        repeats.append([at for at, event_id in zip(indexes, ids, strict=True) if repeated(event_id)])
    (workdir / f"repeats-{owner}").write_bytes(orjson.dumps([sizes, repeats]))


def first_lines(workdir: Path, ranges: int) -> tuple[list[set[int]], list[int]]:
    """After step 2, every job's ``mark_repeats`` together: per range, the valid-line
    indexes repeating an earlier event id; and each range's first global ordinal among
    valid lines."""
    repeated: list[set[int]] = [set() for _ in range(ranges)]
    sizes: list[int] = []
    for owner in range(ranges):
        sizes, repeats = orjson.loads((workdir / f"repeats-{owner}").read_bytes())
        for later, indexes in zip(repeated, repeats, strict=True):
            later.update(indexes)
    offsets = [sum(sizes[:index]) for index in range(ranges)]
    return repeated, offsets


def apply_shard(
    shard: int,
    ranges: int,
    workdir: Path,
    config: EngineConfig,
    as_of_us: int,
    window_us: int,
    since_us: int | None = None,
) -> ShardAnswer:
    """Step 3 (after step 2): this shard's engine over its events in file order.

    ``since_us``: the audited period's start (``tumbling_windows``), known once every
    range is parsed."""
    repeated, offsets = first_lines(workdir, ranges)
    engine = Engine(config, ids_deduplicated=True)  # first_lines has dropped repeated ids
    rows = EntryRows()
    sites: dict[tuple[str, str], str] = {}
    entry_order: list[int] = []
    unknown = unknown_stage = 0
    for index in range(ranges):
        later, base = repeated[index], offsets[index]
        for chunk in _read_chunks(workdir / f"events-{index}-{shard}"):
            for valid, counts, event in chunk:
                if valid in later:
                    continue
                outcome = engine.apply(event)
                if outcome != ACCEPTED:
                    unknown += outcome == UNKNOWN_DASHBOARD and counts
                    unknown_stage += outcome == UNKNOWN_STAGE and counts
                    continue
                if event.__class__ is EntryEvent:
                    rows.add(event, engine.last_entry_seq, engine.last_entry_group)  # type: ignore[arg-type]
                    entry_order.append(base + valid)
                elif event.__class__ is QueryEvent:
                    sites.setdefault((event.study_id, event.query_id), event.site_id)  # type: ignore[union-attr]
    studies = {sid: tuple(study.dashboards) for sid, study in engine.studies.items()}
    body_path = workdir / f"entries-{shard}.csv"
    entry_ends = array("q")
    with body_path.open("w", encoding="utf-8", newline="") as body:
        write_entry_rows(rows, engine, as_of_us, body, entry_ends)
    parts = engine_parts(engine, as_of_us, window_us, since_us)
    # A snapshot-style stage event reaches every shard: counted once, by the shard that owns it.
    parts.unknown_stage = unknown_stage
    # int64 arrays: 8 bytes a value in the pipe and in the main process, not ~36 as ints.
    _compact(parts.snapshot[0].values())
    for studies_of_window in parts.windows.values():
        _compact(studies_of_window.values())
    return ShardAnswer(
        shard=shard,
        duplicates=sum(len(later) for later in repeated),
        unknown_dashboard=unknown,
        studies=studies,
        parts=parts,
        entry_order=array("q", entry_order),
        entry_ends=entry_ends,
        queries=query_lines(engine, sites, as_of_us),
    )


def _compact(parts: Iterable[StudyPart]) -> None:
    for part in parts:
        part.dashboards = {
            name: (array("q", latencies), backlog, over_sla)  # type: ignore[misc]
            for name, (latencies, backlog, over_sla) in part.dashboards.items()
        }


def _job(
    index: int,
    jobs: int,
    path: Path,
    span: tuple[int, int],
    workdir: Path,
    config: EngineConfig,
    as_of_us: int,
    window_us: int,
    bounds: tuple[int, int | None],
    times: EventTimes | None,
    framed: bool,
    listed_max: int,
    connection: Connection,
) -> None:
    with _telling_the_main_process(connection, f"replay job {index} failed"):
        try:
            parsed = parse_range(
                path, span, jobs, workdir, index, bounds, times, framed, listed_max
            )
        except OSError as error:
            connection.send_bytes(orjson.dumps([_UNREADABLE, error.strerror or str(error)]))
            return
        counts = None if times is None else times.counts()
        connection.send_bytes(orjson.dumps([_PARSED, *parsed, counts]))
        go = orjson.loads(connection.recv_bytes())
        if go[0] != _GO:
            return
        mark_repeats(workdir, index, jobs)
        connection.send_bytes(orjson.dumps([_MARKED]))
        if orjson.loads(connection.recv_bytes())[0] != _GO:
            return
        answer = apply_shard(index, jobs, workdir, config, as_of_us, window_us, go[1])
        leave_tables(workdir, index, answer.entry_order, answer.entry_ends, answer.queries)
        answer.entry_order = answer.entry_ends = array("q")
        answer.queries = []
        answer.peak_rss_mib = rss_mib("VmHWM")
        connection.send_bytes(orjson.dumps([_DONE]))  # its tables are in the files
        connection.send(answer)


def run_sharded(
    path: Path,
    jobs: int,
    out: Path,
    config: EngineConfig,
    as_of_us: int,
    window_us: int,
    bounds: tuple[int, int | None] = NO_BOUNDS,
    meanwhile: Callable[[], Any] = lambda: None,
    times: EventTimes | None = None,
    framed: bool = False,
    since_of: Callable[[EventTimes | None], int | None] = lambda _times: None,
    listed_max: int = 1 << 62,
) -> ShardedResult:
    """The three steps over ``jobs`` forked job processes; answers the parts, in
    ``ShardedResult.answers`` (by shard), while a child writes ``out/entries.csv`` and
    ``out/queries.csv``: the caller then calls ``wait_tables``, and ``stop_tables``
    however it ends (this function stops it itself when it raises).
    ``meanwhile`` runs in this process while the jobs parse (hashing the input).
    ``times`` (empty) is filled in each job and their counts merged into it here;
    ``since_of`` then gives the windows' start from it (None: the earliest event time).
    ``framed``: the input is an export of format 2, told by the caller once."""
    workdir = Path(tempfile.mkdtemp(prefix=".replay-shards-", dir=out))
    # Forked, not spawned: the jobs share this process's str hash salt, by which
    # parse_range files each event id for mark_repeats.
    context = multiprocessing.get_context("fork")
    processes: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    result = ShardedResult(
        rss_mib_at_fork=rss_mib("VmRSS"), invalid=InvalidLines(listed_max), workdir=workdir
    )
    answered = False
    try:
        for index, span in enumerate(line_ranges(path, jobs)):
            mine, theirs = context.Pipe(duplex=True)
            job = (
                index, jobs, path, span, workdir, config, as_of_us, window_us, bounds, times,
                framed, listed_max,
            )  # fmt: skip
            process = context.Process(
                target=_job,
                args=(*job, theirs),
                name=f"replay-job-{index}",
                daemon=True,
            )
            process.start()
            theirs.close()
            processes.append((process, mine))
        result.meanwhile = meanwhile()
        line_base = 0
        for process, connection in processes:
            message = _receive(process, connection)
            lines, valid, invalid = message[1], message[2], message[3]
            if times is not None:
                times.merge(message[4])
            result.invalid.extend(InvalidLines.from_message(invalid, listed_max), line_base)
            line_base += lines
            result.valid += valid
        result.lines = line_base
        since_us = since_of(times)
        for _process, connection in processes:
            connection.send_bytes(orjson.dumps([_GO, since_us]))
        # Each job lists the repeated ids it owns (step 2); each then needs every list.
        for process, connection in processes:
            _receive(process, connection)
        for _process, connection in processes:
            connection.send_bytes(orjson.dumps([_GO]))
        for process, connection in processes:
            _receive(process, connection)  # done: its tables are in the files
        # The tables are put back together beside the answers' transfer and the report.
        result.rss_mib_at_tables_fork = rss_mib("VmRSS")
        connections = [connection for _process, connection in processes]
        main_pid = os.getpid()
        result.tables = TablesWriter(
            out, lambda: _tables_child(out, workdir, jobs, connections, main_pid)
        )
        for process, connection in processes:
            result.answers.append(_receive_answer(process, connection))
        answered = True
    finally:
        for process, connection in processes:
            connection.close()
            if process.is_alive():
                process.terminate()
            process.join()
        if not answered:
            stop_tables(result)
    return result


def _tables_child(
    out: Path, workdir: Path, jobs: int, connections: list[Connection], main_pid: int
) -> dict[str, bytes]:
    if os.getpid() != main_pid:  # forked: the jobs' pipes are the main process's to read
        for connection in connections:
            connection.close()
    return write_tables(out, workdir, jobs)


def wait_tables(result: ShardedResult) -> float | None:
    """Waits for entries.csv and queries.csv; the writer's peak resident memory (MiB)."""
    try:
        return result.tables.wait() if result.tables is not None else None
    finally:
        stop_tables(result)


def stop_tables(result: ShardedResult) -> None:
    """Ends and reaps the tables' writer (if still running) and removes the jobs' files."""
    if result.tables is not None:
        result.tables.stop()
    if result.workdir is not None:
        shutil.rmtree(result.workdir, ignore_errors=True)


def _receive_answer(
    process: multiprocessing.process.BaseProcess, connection: Connection
) -> ShardAnswer:
    try:
        answer: ShardAnswer = connection.recv()
    except EOFError:
        process.join()
        raise JobFailed(
            f"{process.name} ended without an answer (exit status {process.exitcode})"
        ) from None
    return answer


def _receive(process: multiprocessing.process.BaseProcess, connection: Connection) -> list[Any]:
    try:
        message = orjson.loads(connection.recv_bytes())
    except EOFError:
        process.join()
        raise JobFailed(
            f"{process.name} ended without an answer (exit status {process.exitcode})"
        ) from None
    if message[0] in (_FAILED, _UNREADABLE):
        raise JobFailed(message[1], unreadable=message[0] == _UNREADABLE)
    return message


# Input bytes per job of the default --jobs (docs/replay.md, "--jobs"): sharding costs
# ~20% more CPU in all (routing, a shard file per job, every job reading every event id,
# entries.csv put back in order), which a second engine repays only on large inputs. On
# the realistic mix, 2 cores: --jobs 1 was faster at 11, 93 and 181 MB, --jobs 2 at 303 MB.
JOB_BYTES = 128 << 20


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_jobs(input_bytes: int, cores: int | None = None) -> int:
    """``--jobs`` when not given: one job per JOB_BYTES of input, at least 1, at most the cores."""
    available = usable_cores() if cores is None else cores
    return max(1, min(available, input_bytes // JOB_BYTES))
