"""Recompute figures as of an instant from a JSONL export (or the topics) into a report.

Writes DIR/report.json, entries.csv, queries.csv, scorecard.csv, windows.csv,
visit_to_entry.csv, report.html (byte-identical for the same input and options) and run.json (when,
where, how long: the only file that differs between runs). Exit status 0 on
success, 2 on bad arguments or unreadable input, 4 with --require-complete when the
input does not cover the audited period (the report is written all the same).
Never joins the live consumer group, never commits offsets.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from agents.audit.framing import EXPORT_HEADER
from agents.audit.manifest import PartitionRead, manifest_path, read_manifest
from agents.audit.replay.at_risk_report import at_risk_section
from agents.audit.replay.coverage import (
    COMPLETE,
    EventTimes,
    coverage_dict,
    mark_windows,
    partition_facts,
    period_dict,
)
from agents.audit.replay.distributions import latency_distributions
from agents.audit.replay.html import render
from agents.audit.replay.lines import InvalidLines
from agents.audit.replay.pipeline import (
    ReaderFailed,
    TablesWriter,
    children_peak_rss_mib,
    forking_is_safe,
    read_events_pipelined,
    rss_mib,
)
from agents.audit.replay.reader import CountingLines, InputSummary, read_events
from agents.audit.replay.report import build_report, dumps, options_dict
from agents.audit.replay.scorecard_report import report_sections, scorecard_csv
from agents.audit.replay.sharded import (
    WorkerFailed,
    default_jobs,
    merged_distributions,
    run_sharded,
)
from agents.audit.replay.stages_report import merge_observations, stages_csv, stages_section
from agents.audit.replay.tables import EntryRows, entries_csv, queries_csv
from agents.audit.replay.uptime_report import engine_uptime_section, merge_parts, uptime_section
from agents.audit.replay.visit_report import FILE as VISIT_FILE
from agents.audit.replay.visit_report import visit_csv, visit_section
from agents.audit.replay.window_table import windows_csv
from agents.errors import NotCovered
from agents.settings import ConfigurationError, Settings, load_settings, parse_duration_s
from schemas import EntryEvent, Event, QueryEvent
from schemas.limits import skew_us
from schemas.timestamps import US_PER_SECOND, format_timestamp, parse_timestamp_us
from streams import ACCEPTED, Engine, tumbling_windows
from streams.at_risk import at_risk_from_parts, at_risk_parts
from streams.parts import merge_snapshots
from streams.scorecards import NEEDED_BREAKDOWN, merge_scorecard_grains, scorecards
from streams.visits import VisitReport, merge_visit_parts, visit_parts, visit_report
from streams.windows import merge_windows


class BadInput(ConfigurationError):
    """Bad arguments or an input that cannot be read: one line for the operator."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="JSONL file: one message value per line")
    source.add_argument("--from-topics", action="store_true", help="read the configured topics")
    parser.add_argument("--as-of", required=True, help="RFC 3339 instant the figures are as of")
    parser.add_argument("--window", default="1d", help="tumbling window size (default 1d)")
    parser.add_argument(
        "--since", help="start of the audited period (RFC 3339; default: the first event time)"
    )
    parser.add_argument(
        "--require-complete",
        action="store_true",
        help="exit 4 when the input does not cover the whole audited period",
    )
    parser.add_argument("--sla", help="SLA for every study not configured (e.g. 24h)")
    parser.add_argument("--config", help="TOML settings file: per-study SLA and dashboards")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="processes sharing the engine work, split as the live shards are "
        "(default: the number of cores; 1: one engine; a file input only)",
    )


def run(args: argparse.Namespace) -> int:
    with _cyclic_gc_paused():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    started = time.time()
    try:
        as_of = parse_timestamp_us(args.as_of)
    except ValueError as error:
        raise BadInput(f"--as-of: {error}") from None
    try:
        window_us = round(parse_duration_s(args.window) * US_PER_SECOND)
        overrides = {"default_sla": parse_duration_s(args.sla)} if args.sla else {}
    except ValueError as error:
        raise BadInput(str(error)) from None
    try:
        settings = load_settings(args.config, **overrides)
    except ConfigurationError as error:
        raise BadInput(" ".join(str(error).split())) from None
    if args.jobs < 1:
        raise BadInput("--jobs: must be at least 1")
    period = _period_floor(args.since, as_of, window_us, settings)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"--out {out}: {error.strerror}") from None
    if args.input is not None and args.jobs > 1 and forking_is_safe():
        return _run_sharded(args, settings, as_of, window_us, period, out, started)

    # Split by site, country and vendor whatever the live breakdown: the scorecards read
    # the groups, and every other figure merges them.
    engine = Engine(replace(settings.engine_config(retention=False), breakdown=NEEDED_BREAKDOWN))
    # The live router's bounds: size, and event time against each message's own
    # timestamp (never --as-of), so the same events are refused whenever this runs.
    bounds = (settings.max_message_bytes, skew_us(settings.max_future_skew))
    handle: BinaryIO | None = None  # a file: read and parsed by a second process
    reads: dict[str, dict[int, PartitionRead]] = {}
    if args.from_topics:
        from agents.audit.export import topic_lines
        from agents.kafka.connection import check_broker

        try:
            check_broker(settings)
        except ConfigurationError as error:
            raise BadInput(str(error)) from None
        summary = InputSummary(
            source="kafka:" + ",".join(sorted(settings.input_topics)),
            invalid=InvalidLines(settings.replay_max_invalid_listed),
        )
        lines: Iterator[bytes] = topic_lines(settings, reads=reads)
        total_bytes = 0
        framed = True
    else:
        path = Path(args.input)
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
    progress = Progress(total_bytes, enabled=not args.quiet and sys.stderr.isatty())
    times = EventTimes(settings.input_topics, period[0], as_of)
    rows = EntryRows()
    query_sites: dict[tuple[str, str], str] = {}
    events: Iterator[Event]
    if handle is None:
        counted = CountingLines(lines)
        source = counted if progress.enabled else lines  # the count only feeds the bar
        events = read_events(source, summary, lambda n: progress.show(n, counted.bytes), bounds)
    else:
        # Parsing in a second process, beside the engine (agents/audit/replay/pipeline.py).
        events = read_events_pipelined(handle, summary, progress.show, bounds)
    try:
        add_time = times.add
        for event in events:
            add_time(event)
            outcome = engine.apply(event)
            if outcome != ACCEPTED:
                continue
            if event.__class__ is EntryEvent:
                rows.add(event, engine.last_entry_seq, engine.last_entry_group)  # type: ignore[arg-type]
            elif event.__class__ is QueryEvent:
                query_sites.setdefault((event.study_id, event.query_id), event.site_id)  # type: ignore[union-attr]
    except ReaderFailed as error:
        if error.unreadable:
            raise BadInput(f"--input {args.input}: {error}") from None
        raise
    if handle is None:
        progress.done(summary.lines, counted.bytes)
    else:
        progress.done(summary.lines, progress.read)
    reader_peak_mib = children_peak_rss_mib()  # only the reader has ended so far

    # The two CSVs are half of the work after the loop and read only the finished state:
    # a forked child writes them while this process builds the report and the HTML.
    rss_at_fork_mib = rss_mib("VmRSS")
    tables = TablesWriter(out, lambda: {
        "entries.csv": entries_csv(rows, engine, as_of),
        "queries.csv": queries_csv(engine, query_sites, as_of),
    })  # fmt: skip
    try:
        snapshot = engine.snapshot(as_of)
        since_us, since_from = _period_start(period, times.first_in_period, as_of)
        windows = tumbling_windows(engine, as_of, window_us, since_us=since_us)
        report = build_report(
            engine,
            snapshot,
            windows,
            options_dict(window_us, engine),
            {
                "source": summary.source,
                "sha256": summary.sha256,
                "lines": summary.lines,
                "valid": summary.valid,
                "invalid": len(summary.invalid),
                "event_time_bound": event_time_bound(framed, settings),
            },
            summary.invalid,
        )
        report.update(report_sections(scorecards(engine, as_of)))
        report.update(
            at_risk_section(
                engine.config,
                at_risk_from_parts(engine.config, [at_risk_parts(engine, as_of)], as_of),
            )
        )
        report["uptime"] = engine_uptime_section(engine, as_of, settings.freshness_thresholds_us)
        _add_stages(
            report,
            merge_observations(engine.stage_observations(as_of)),
            engine.counters.unknown_stage,
        )
        visits = _visits(visit_parts(engine, as_of), engine)
        report.update(visit_section(visits))
        if args.from_topics:
            partitions, since_filter = partition_facts(reads), None
        else:
            partitions, since_filter = _manifest_coverage(Path(args.input), summary.sha256)
        period = period_dict(since_us, since_from, as_of, times, len(windows))
        _add_coverage(report, partitions, since_filter, times, period)
        files = _report_files(report, latency_distributions(engine, as_of), visits)
        for name, content in files.items():
            (out / name).write_bytes(content)
        writer_peak_mib = tables.wait()
    finally:
        tables.stop()
    run_facts = {
        **_run_facts(started, summary.lines),
        **_peak_rss_facts(reader_peak_mib, writer_peak_mib, rss_at_fork_mib),
    }
    (out / "run.json").write_bytes(orjson.dumps(run_facts, option=orjson.OPT_INDENT_2) + b"\n")
    _say_done(args, out, summary.valid, len(summary.invalid), summary.lines)
    uncovered = _not_covered(report["coverage"])
    # Handed to the collector as one cycle rather than freed object by object on return
    # (~0.6 s per 1M lines): _cyclic_gc_paused leaves cyclic state to the process exit.
    state: list[object] = [engine, rows, query_sites, summary, snapshot, windows, report, files]
    state.append(state)
    if args.require_complete and uncovered:
        raise NotCovered(uncovered)
    return 0


def _run_sharded(
    args: argparse.Namespace,
    settings: Settings,
    as_of: int,
    window_us: int,
    period: tuple[int, str | None],
    out: Path,
    started: float,
) -> int:
    """``--jobs N``: the engine work over N processes by shard (agents/audit/replay/sharded.py).

    This process hashes the input meanwhile, then merges the workers' answers into the
    same files one engine writes.
    """
    path = Path(args.input)
    if not path.is_file():
        raise BadInput(f"--input {path}: No such file")
    config = replace(settings.engine_config(retention=False), breakdown=NEEDED_BREAKDOWN)
    # The live router's bounds, as on one engine.
    bounds = (settings.max_message_bytes, skew_us(settings.max_future_skew))
    # Every worker sees the audited period's floor, to count events against it as
    # EventTimes does on one engine; their counts are merged below.
    times = EventTimes(settings.input_topics, period[0], as_of)
    try:
        # The framing is told by the first line (agents/audit/framing.py): told once
        # here, since only the first range's worker would see that line.
        with path.open("rb") as handle:
            framed = handle.readline() == EXPORT_HEADER
        sharded = run_sharded(
            path,
            args.jobs,
            out,
            config,
            as_of,
            window_us,
            bounds,
            lambda: _sha256_of(path),
            times=times,
            framed=framed,
            since_of=lambda merged: _period_start(period, merged.first_in_period, as_of)[0],
            listed_max=settings.replay_max_invalid_listed,
        )
    except OSError as error:
        raise BadInput(f"--input {path}: {error.strerror}") from None
    except WorkerFailed as error:
        if error.unreadable:
            raise BadInput(f"--input {path}: {error}") from None
        raise
    digest = sharded.meanwhile
    answers = sharded.answers
    # The report reads counters and the configuration off an engine: one holding the
    # merged counters stands in for the single engine.
    totals = Engine(config)
    totals.counters.duplicates = answers[0].duplicates
    totals.counters.unknown_dashboard = sum(answer.unknown_dashboard for answer in answers)
    snapshot = merge_snapshots(as_of, [answer.snapshot for answer in answers])
    earliest = [a.earliest_us for a in answers if a.earliest_us is not None]
    since_us, since_from = _period_start(period, times.first_in_period, as_of)
    windows = merge_windows(
        [answer.windows for answer in answers],
        min(earliest, default=None),
        as_of,
        window_us,
        since_us=since_us,
    )
    report = build_report(
        totals,
        snapshot,
        windows,
        options_dict(window_us, totals),
        {
            "source": path.name,
            "sha256": digest,
            "lines": sharded.lines,
            "valid": sharded.valid,
            "invalid": len(sharded.invalid),
            "event_time_bound": event_time_bound(framed, settings),
        },
        sharded.invalid,
    )
    report.update(
        report_sections(merge_scorecard_grains([answer.scorecard_grains for answer in answers]))
    )
    report.update(
        at_risk_section(config, at_risk_from_parts(config, [a.at_risk for a in answers], as_of))
    )
    thresholds = settings.freshness_thresholds_us
    figures, clock = merge_parts([answer.freshness for answer in answers], as_of, thresholds)
    report["uptime"] = uptime_section(figures, clock, as_of, thresholds)
    _add_stages(
        report,
        merge_observations(part for answer in answers for part in answer.stage_observations),
        sum(answer.unknown_stage for answer in answers),
    )
    visits = _visits(merge_visit_parts(answer.visit_parts for answer in answers), totals)
    report.update(visit_section(visits))
    partitions, since_filter = _manifest_coverage(path, digest)
    period = period_dict(since_us, since_from, as_of, times, len(windows))
    _add_coverage(report, partitions, since_filter, times, period)
    for name, content in _report_files(report, merged_distributions(answers), visits).items():
        (out / name).write_bytes(content)
    main = rss_mib("VmHWM")
    workers = [answer.peak_rss_mib or 0.0 for answer in answers]
    # As for the tables writer (_peak_rss_facts): a worker's resident set starts as this
    # process's at the fork, pages it shares until it writes them; each adds its peak less that.
    at_fork = sharded.rss_mib_at_fork or 0.0
    added = sum(max(0.0, worker - at_fork) for worker in workers)
    run_facts = {
        **_run_facts(started, sharded.lines),
        "jobs": args.jobs,
        # This process's peak plus what each worker added: an upper bound when the
        # peaks did not coincide.
        "peak_rss_mib": None if main is None else round(main + added, 1),
        "peak_rss_mib_main": main,
        "peak_rss_mib_workers": workers,
        "rss_mib_at_workers_fork": sharded.rss_mib_at_fork,
    }
    (out / "run.json").write_bytes(orjson.dumps(run_facts, option=orjson.OPT_INDENT_2) + b"\n")
    _say_done(args, out, sharded.valid, len(sharded.invalid), sharded.lines)
    uncovered = _not_covered(report["coverage"])
    state: list[object] = [sharded, snapshot, windows, report, totals]
    state.append(state)
    if args.require_complete and uncovered:
        raise NotCovered(uncovered)
    return 0


def event_time_bound(framed: bool, settings: Settings) -> str:
    """What the report says of the future-skew bound (schemas/limits.py) for this input."""
    if settings.max_future_skew is None:
        return "not checked: max_future_skew is off"
    if not framed:
        return "not checked: a plain JSONL file has no message timestamps to judge event times by"
    return (
        f"event times more than max_future_skew ({settings.max_future_skew:g} s) after "
        "their message's Kafka timestamp are invalid"
    )


def _add_coverage(
    report: dict[str, Any],
    partitions: dict[str, dict[str, Any]] | None,
    since_filter: str | None,
    times: EventTimes,
    period: dict[str, Any],
) -> None:
    """The report's coverage section, and its mark on each window the input does not cover."""
    report["coverage"] = coverage_dict(partitions, since_filter, times, period)
    mark_windows(report)


def _add_stages(report: dict[str, Any], observations: Any, unknown_stage: int) -> None:
    """The "where latency accrues" section, when a study has stages or stage events came."""
    vendor_index = NEEDED_BREAKDOWN.index("vendor")
    section = stages_section(observations, unknown_stage, vendor_index)
    if section is not None:
        report["stages"] = section


def _report_files(
    report: dict[str, Any], distributions: dict[tuple[str, str], list[int]], visits: VisitReport
) -> dict[str, bytes]:
    """The outputs made from the report (the entries' and queries' CSVs are written apart)."""
    files = {
        "windows.csv": windows_csv(report),
        "report.json": dumps(report),
        "scorecard.csv": scorecard_csv(report),
        VISIT_FILE: visit_csv(visits),
        "report.html": render(report, distributions, _version()),
    }
    if "stages" in report:
        files["stages.csv"] = stages_csv(report["stages"])
    return files


def _visits(parts: Any, engine: Engine) -> VisitReport:
    """Visit to entry as of T (streams/visits.py) at the thresholds the engine counted by."""
    return visit_report(parts, engine.config.visit_medium_us, engine.config.visit_high_us)


def _say_done(args: argparse.Namespace, out: Path, valid: int, invalid: int, lines: int) -> None:
    if not args.quiet:
        print(f"{valid} valid, {invalid} invalid of {lines} lines → {out}/report.html", file=sys.stderr)


def _sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _period_floor(
    since: str | None, as_of_us: int, window_us: int, settings: Settings
) -> tuple[int, str | None]:
    """(earliest instant the period may start at, '--since' or None): known before reading."""
    last_start = (as_of_us // window_us) * window_us
    most = last_start - (settings.replay_max_windows - 1) * window_us
    if since is not None:
        try:
            since_us = parse_timestamp_us(since)
        except ValueError as error:
            raise BadInput(f"--since: {error}") from None
        if since_us > as_of_us:
            raise BadInput("--since is after --as-of")
        if since_us < most:
            raise BadInput(
                f"--since gives more than replay_max_windows ({settings.replay_max_windows}) "
                "windows: use a later --since or a larger --window"
            )
        return since_us, "--since"
    lookback = as_of_us - round(settings.replay_max_lookback * US_PER_SECOND)
    return max(lookback, most), None


def _period_start(
    period: tuple[int, str | None], first_in_period_us: int | None, as_of_us: int
) -> tuple[int, str]:
    """The period's start: --since, else the first event time no earlier than the floor."""
    floor, given = period
    if given is not None:
        return floor, given
    if first_in_period_us is None or first_in_period_us > as_of_us:
        return as_of_us, "no event in the look-back before --as-of"
    return first_in_period_us, "first event"


def _manifest_coverage(path: Path, sha256: str) -> tuple[dict[str, Any] | None, str | None]:
    """The partitions read and the --since filter of the export, from its manifest beside it."""
    beside = manifest_path(path)
    if not beside.exists():
        return None, None
    try:
        manifest = read_manifest(beside)
    except ValueError:
        return None, None
    if manifest.get("sha256") != sha256:
        return None, None  # not the file the manifest describes: coverage unknown
    return manifest["partitions"], manifest.get("since")


def _not_covered(coverage: dict[str, Any]) -> str | None:
    """One line saying why the audited period is not covered, or None when it is."""
    if coverage["status"] == COMPLETE:
        return None
    if coverage["status"] != "incomplete":
        return "coverage unknown: " + coverage["reasons"][0]
    period_start = coverage["period"]["since"]
    since = coverage["complete_since"]
    if since != "never" and parse_timestamp_us(since) <= parse_timestamp_us(period_start):
        return None
    return (
        f"the audited period starts {period_start} but the input is complete only since "
        f"{since}: {'; '.join(coverage['reasons'])}"
    )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during the run, and none of its state afterwards.

    The replay builds millions of long-lived objects; every full collection rescanned
    all of them, a third of the run time at 1M lines (31.6 s -> 21.3 s paused, same
    outputs). Afterwards the run's state is garbage, and freeing millions of objects
    costs seconds per 1M lines in a process that is about to exit: _run hands it over
    as one cycle, which is frozen here, and the collector never visits frozen objects.
    A later replay in the same process (the tests) collects it first. Nothing else in
    this project freezes objects.
    """
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


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
        "peak_rss_mib": total,
        "peak_rss_mib_main": main,
        "peak_rss_mib_reader": reader,
        "peak_rss_mib_tables_writer": writer,
        "rss_mib_at_tables_fork": at_fork,
    }


def _version() -> str:
    try:
        return version("edc-latency")
    except PackageNotFoundError:
        return "unknown"


class Progress:
    """A one-line progress bar on stderr: events/s and ETA (from bytes read of the file size)."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self.total = total_bytes
        self.enabled = enabled
        self.started = time.monotonic()
        self.last = 0.0
        self.read = 0  # bytes, as last shown: the pipelined reader counts them in its process

    def show(self, lines: int, read: int) -> None:
        self.read = read
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.5:
            return
        self.last = now
        elapsed = now - self.started
        rate = lines / elapsed if elapsed else 0
        if self.total:
            share = read / self.total
            eta = elapsed * (1 - share) / share if share else 0
            bar = "#" * int(30 * share)
            text = f"[{bar:<30}] {100 * share:5.1f}%  {rate:,.0f} lines/s  ETA {eta:,.0f}s"
        else:
            text = f"{lines:,} lines  {rate:,.0f} lines/s"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()

    def done(self, lines: int, read: int) -> None:
        if self.enabled:
            self.last = 0.0
            self.show(lines, read)
            sys.stderr.write("\n")


def _run_facts(started: float, lines: int) -> dict[str, object]:
    """When, where and how fast a replay ran: run.json's facts common to both paths."""
    seconds = time.time() - started
    return {
        "started_at": format_timestamp(int(started * US_PER_SECOND)),
        "seconds": round(seconds, 3),
        "host": platform.node(),
        "python": platform.python_version(),
        "version": _version(),
        "argv": sys.argv[1:],
        "events_per_s": round(lines / max(1e-9, seconds)),
    }
