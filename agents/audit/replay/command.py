"""Recompute figures as of an instant from a JSONL export (or the topics) into a report.

Writes DIR/report.json, entries.csv, queries.csv, scorecard.csv, windows.csv,
report.html (byte-identical for the same input and options) and run.json (when,
where, how long: the only file that differs between runs). Exit status 0 on
success, 2 on bad arguments or unreadable input, 4 with --require-complete when the
input does not cover the audited period (the report is written all the same).
Never joins the live consumer group, never commits offsets.

One pipeline: the events go to one engine or, with ``--jobs N`` on a file, to N by
shard (``feed.py``); each engine answers its parts of the figures, merged the same
way whatever N (``engine_parts.py``), and the report is written from the merge.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

from agents.audit.manifest import manifest_path, read_manifest
from agents.audit.replay.coverage import (
    COMPLETE,
    EventTimes,
    coverage_dict,
    mark_windows,
    partition_facts,
    period_dict,
)
from agents.audit.replay.engine_parts import merge_parts
from agents.audit.replay.feed import BadInput, Fed, Job, by_shard, one_engine
from agents.audit.replay.html import render
from agents.audit.replay.parallel import JOB_BYTES, default_jobs
from agents.audit.replay.pipeline import forking_is_safe
from agents.audit.replay.report import build_report, dumps, options_dict
from agents.audit.replay.scorecard_report import report_sections, scorecard_csv
from agents.audit.replay.stages_report import merge_observations, stages_csv, stages_section
from agents.audit.replay.visit_report import FILE as VISIT_FILE
from agents.audit.replay.visit_report import visit_csv, visit_section
from agents.audit.replay.window_table import windows_csv
from agents.errors import NotCovered
from agents.settings import ConfigurationError, Settings, load_settings, parse_duration_s
from schemas.limits import skew_us
from schemas.timestamps import US_PER_SECOND, format_timestamp, parse_timestamp_us
from streams.scorecards import NEEDED_BREAKDOWN

__all__ = ["BadInput", "add_arguments", "event_time_bound", "run"]


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
        default=None,
        help="processes sharing the engine work, split as the live shards are "
        f"(a file input only; 1: one engine). Default: one per {JOB_BYTES >> 20} MiB of "
        "input, at least 1, at most the cores this process may use: below that a second "
        "engine does not repay the cost of splitting (measured: docs/operations.md, Sizing)",
    )


def run(args: argparse.Namespace) -> int:
    with _cyclic_gc_paused():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    started = time.time()
    job = _job(args)
    jobs = args.jobs if args.jobs is not None else _default_jobs(args.input)
    if args.input is not None and jobs > 1 and forking_is_safe():
        fed = by_shard(job, args.input, jobs)
    else:
        fed = one_engine(job, args.input)
    try:
        report, files = _report(args, job, fed)
        for name, content in files.items():
            (job.out / name).write_bytes(content)
        memory = fed.finish()
    finally:
        fed.stop()
    summary = fed.summary
    run_facts = {**_run_facts(started, summary.lines), **memory}
    (job.out / "run.json").write_bytes(orjson.dumps(run_facts, option=orjson.OPT_INDENT_2) + b"\n")
    if not args.quiet:
        print(
            f"{summary.valid} valid, {len(summary.invalid)} invalid of {summary.lines} lines → "
            f"{job.out}/report.html",
            file=sys.stderr,
        )
    uncovered = _not_covered(report["coverage"])
    # Handed to the collector as one cycle rather than freed object by object on return
    # (~0.6 s per 1M lines): _cyclic_gc_paused leaves cyclic state to the process exit.
    state: list[object] = [fed, report, files]
    state.append(state)
    _left_for_exit.append(state)
    if args.require_complete and uncovered:
        raise NotCovered(uncovered)
    return 0


def _default_jobs(input_path: str | None) -> int:
    """--jobs when not given: by the input's size and the cores (parallel.default_jobs)."""
    if input_path is None:
        return 1  # the topics: one engine
    try:
        size = Path(input_path).stat().st_size
    except OSError:
        return 1  # one_engine says why it cannot read it
    return default_jobs(size)


def _job(args: argparse.Namespace) -> Job:
    """The options, checked: BadInput names the first wrong one."""
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
    if args.jobs is not None and args.jobs < 1:
        raise BadInput("--jobs: must be at least 1")
    period = _period_floor(args.since, as_of, window_us, settings)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"--out {out}: {error.strerror}") from None
    return Job(
        settings=settings,
        # Split by site, country and vendor whatever the live breakdown: the scorecards
        # read the groups, and every other figure merges them.
        config=replace(settings.engine_config(retention=False), breakdown=NEEDED_BREAKDOWN),
        as_of_us=as_of,
        window_us=window_us,
        # The live router's bounds: size, and event time against each message's own
        # timestamp (never --as-of), so the same events are refused whenever this runs.
        bounds=(settings.max_message_bytes, skew_us(settings.max_future_skew)),
        times=EventTimes(settings.input_topics, period[0], as_of),
        since_of=lambda times: _period_start(period, times.first_in_period, as_of)[0],
        out=out,
        quiet=args.quiet,
        period=period,
    )


def _report(
    args: argparse.Namespace, job: Job, fed: Fed
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """report.json's content, and the files made from it (the CSVs of entries and
    queries are the feeds')."""
    as_of, times, summary = job.as_of_us, job.times, fed.summary
    since_us, since_from = _period_start(job.period, times.first_in_period, as_of)
    merged = merge_parts(
        fed.parts,
        as_of,
        job.window_us,
        since_us,
        job.config,
        job.settings.freshness_thresholds_us,
    )
    report = build_report(
        fed.totals,
        merged.snapshot,
        merged.windows,
        options_dict(job.window_us, fed.totals),
        {
            "source": summary.source,
            "sha256": summary.sha256,
            "lines": summary.lines,
            "valid": summary.valid,
            "invalid": len(summary.invalid),
            "event_time_bound": event_time_bound(fed.framed, job.settings),
        },
        summary.invalid,
    )
    report.update(report_sections(merged.scorecards))
    report.update(merged.at_risk)
    report["uptime"] = merged.uptime
    _add_stages(report, merge_observations(merged.stage_observations), merged.unknown_stage)
    report.update(visit_section(merged.visits))
    if fed.reads is not None:
        partitions, since_filter = partition_facts(fed.reads), None
    else:
        partitions, since_filter = _manifest_coverage(Path(args.input), summary.sha256)
    period = period_dict(since_us, since_from, as_of, times, len(merged.windows))
    report["coverage"] = coverage_dict(partitions, since_filter, times, period)
    mark_windows(report)  # each window the input does not cover
    files = {
        "windows.csv": windows_csv(report),
        "report.json": dumps(report),
        "scorecard.csv": scorecard_csv(report),
        VISIT_FILE: visit_csv(merged.visits),
        "report.html": render(report, merged.distributions, _version()),
    }
    if "stages" in report:
        files["stages.csv"] = stages_csv(report["stages"])
    return report, files


def _add_stages(report: dict[str, Any], observations: Any, unknown_stage: int) -> None:
    """The "where latency accrues" section, when a study has stages or stage events came."""
    vendor_index = NEEDED_BREAKDOWN.index("vendor")
    section = stages_section(observations, unknown_stage, vendor_index)
    if section is not None:
        report["stages"] = section


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


# The cyclic state of the runs of this process, for the next run to free (the list holds
# itself, so the process's exit frees nothing of it).
_left_for_exit: list[list[object]] = []
# How many objects the process held after the last full collection a replay ran.
_objects_after_collection = [0]


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during the run, and none of its state afterwards.

    The replay builds millions of long-lived objects; every full collection rescanned
    all of them, a third of the run time at 1M lines (31.6 s -> 21.3 s paused, same
    outputs). Afterwards the run's state is garbage, and freeing millions of objects
    costs seconds per 1M lines in a process that is about to exit: _run hands it over
    as one cycle, which is frozen here, and the collector never visits frozen objects.
    A later replay in the same process (the tests) frees it first: it breaks that cycle,
    which frees the state by reference counting, and unfreezes the rest; what cycles inside
    the state keep is collected once the frozen objects grew by a quarter since the last
    full collection (CPython's own rule for its oldest generation). A full collection
    walks every object of the process: run before each replay, it was a third of a small
    replay's time in the tests. Nothing else in this project freezes objects.
    """
    while _left_for_exit:
        _left_for_exit.pop().clear()
    frozen = gc.get_freeze_count()
    if frozen:
        gc.unfreeze()
        if frozen > 1.25 * _objects_after_collection[0]:
            gc.collect()
            _objects_after_collection[0] = len(gc.get_objects())
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _version() -> str:
    try:
        return version("edc-latency")
    except PackageNotFoundError:
        return "unknown"


def _run_facts(started: float, lines: int) -> dict[str, object]:
    """When, where and how fast a replay ran: run.json's facts whatever the number of engines."""
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
