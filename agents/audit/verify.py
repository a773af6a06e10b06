"""Check a chain of exports: ``edc-latency verify OLDEST.manifest.json ... NEWEST.manifest.json``.

For every manifest: its export file is there, its SHA-256 and every block digest
hold (a changed byte is named by file and line range; a line that is no longer an
export record by its exact line). For every link: the manifest names the previous
one's SHA-256, and each partition starts exactly where the previous export ended,
with no offsets missing. One line per problem; exit 0 only when all hold, 6
(verification failed) when any does not, 2 for bad arguments.

Gaps are computed from the offsets themselves (the previous export's ``end``, this
one's ``start``), never taken from a manifest's own ``missing`` or ``gaps``: a
forged field can add a gap to the report, never hide one. A malformed manifest
(wrong types, a ``file`` that is a path) is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agents.audit.framing import EXPORT_HEADER, message_value
from agents.audit.manifest import read_manifest
from agents.errors import VerificationFailed
from schemas import Rejection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", metavar="MANIFEST", help="oldest first")


def run(args: argparse.Namespace) -> int:
    problems: list[str] = []
    notes: list[str] = []
    previous: tuple[Path, dict[str, Any]] | None = None
    for name in args.manifests:
        path = Path(name)
        try:
            manifest = read_manifest(path)
            problems.extend(check_file(path, manifest))
            problems.extend(check_offsets(path, manifest))
            if previous is None:
                notes.extend(first_link_notes(path, manifest))
                # Nothing to compute them from: what the manifest declares can only add.
                problems.extend(declared_gaps(path, manifest))
            else:
                problems.extend(check_link(previous, (path, manifest)))
        except (OSError, ValueError) as error:
            problems.append(" ".join(str(error).split()))
            previous = None
            continue
        previous = (path, manifest)
    for line in (*notes, *problems):
        print(line, file=sys.stderr if line in problems else sys.stdout)
    if problems:
        raise VerificationFailed(f"{len(problems)} problem(s)")
    print(f"edc-latency verify: {len(args.manifests)} export(s): digests, links and offsets hold")
    return 0


def check_file(path: Path, manifest: dict[str, Any]) -> list[str]:
    export = path.with_name(manifest["file"])
    try:
        lines = export.read_bytes().splitlines(keepends=True)
    except OSError as error:
        return [f"{export.name}: {error.strerror}"]
    problems: list[str] = []
    size = manifest["block_lines"]
    blocks = manifest["block_sha256"]
    count = max(len(blocks), (len(lines) + size - 1) // size)
    for k in range(count):
        chunk = lines[k * size : (k + 1) * size]
        digest = hashlib.sha256(b"".join(chunk)).hexdigest()
        if k < len(blocks) and digest == blocks[k]:
            continue
        first, last = k * size + 1, k * size + len(chunk)
        broken = [
            first + i
            for i, line in enumerate(chunk)
            if not (first + i == 1 and line == EXPORT_HEADER)
            and message_value(line).__class__ is Rejection
        ]
        where = f"line {broken[0]}" if broken else f"lines {first}–{last}"
        problems.append(f"{export.name}: {where}: changed since the export (SHA-256 differs)")
    if len(lines) != manifest["lines"]:
        problems.append(f"{export.name}: {len(lines)} lines, the manifest says {manifest['lines']}")
    whole = hashlib.sha256(b"".join(lines)).hexdigest()
    if whole != manifest["sha256"] and not problems:
        problems.append(f"{export.name}: SHA-256 differs from the manifest")
    return problems


def check_link(
    previous: tuple[Path, dict[str, Any]], current: tuple[Path, dict[str, Any]]
) -> list[str]:
    (before_path, before), (path, manifest) = previous, current
    problems: list[str] = []
    link = manifest.get("previous")
    digest = hashlib.sha256(before_path.read_bytes()).hexdigest()
    if link is None:
        problems.append(f"{path.name}: not chained (exported without --previous)")
    elif link["sha256"] != digest:
        problems.append(
            f"{path.name}: its previous export is {link['manifest']} with another SHA-256 "
            f"than {before_path.name} (an export dropped or replaced in between?)"
        )
    for topic, partition, read in _partitions(before):
        now = manifest["partitions"].get(topic, {}).get(partition)
        if now is None:
            problems.append(f"{path.name}: {topic}[{partition}] not read")
        elif now["start"] > read["end"] and now["start"] == now["log_start"]:
            # Gone before this export could read them (retention, deletion): whatever
            # its ``missing`` field says, the offsets in between are not in the chain.
            problems.append(
                f"{path.name}: {topic}[{partition}]: offsets {read['end']}–"
                f"{now['start'] - 1} missing"
            )
        elif now["start"] != read["end"]:
            low, high = sorted((read["end"], now["start"]))
            problems.append(
                f"{path.name}: {topic}[{partition}]: starts at {now['start']}, the previous "
                f"export ended at {read['end']}: offsets {low}–{high - 1} not covered"
            )
    return problems


def check_offsets(path: Path, manifest: dict[str, Any]) -> list[str]:
    """Each partition's offsets agree with each other (read_manifest checked their types)."""
    problems = []
    for topic, partition, read in _partitions(manifest):
        first, last = read.get("first"), read.get("last")
        read_span = read["end"] - read["start"]
        written = [o for o in (first, last) if o is not None]
        if (
            read["start"] < read["log_start"]
            or read_span < 0
            or read["count"] > read_span
            or any(not read["start"] <= o < read["end"] for o in written)
            or (first is None) != (read["count"] == 0)
        ):
            problems.append(
                f"{path.name}: {topic}[{partition}]: offsets do not agree (log_start "
                f"{read['log_start']}, start {read['start']}, end {read['end']}, "
                f"count {read['count']})"
            )
    return problems


def declared_gaps(path: Path, manifest: dict[str, Any]) -> list[str]:
    """The gaps a manifest declares, for the first of a chain (its previous is not given)."""
    problems = []
    for topic, partition, read in _partitions(manifest):
        missing = read.get("missing")
        if missing:
            low, high = missing[0], missing[-1]
            problems.append(f"{path.name}: {topic}[{partition}]: offsets {low}–{high} missing")
    return problems


def _partitions(manifest: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(topic, partition, what was read of it) of a manifest, topics sorted, partitions by number."""
    for topic, parts in sorted(manifest["partitions"].items()):
        for partition, read in sorted(parts.items(), key=lambda item: int(item[0])):
            yield topic, partition, read


def first_link_notes(path: Path, manifest: dict[str, Any]) -> list[str]:
    return [
        f"note: {path.name}: {topic}[{partition}] begins at offset {read['start']}: "
        "what came before is not in this chain"
        for topic, partition, read in _partitions(manifest)
        if read["start"] > 0
    ]
