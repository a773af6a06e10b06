"""The manifest beside an export: what each partition gave, the digests, the link to the previous one.

Per partition: ``log_start`` (the broker's first retained offset when read),
``start`` (the offset reading began at: the log start, or where the previous
export of a chain ended), ``end`` (the offset after the last one read),
``first``/``last``/``count`` of the messages written, ``first_timestamp`` (the
Kafka timestamp of the first, in ms), and ``missing`` ([from, to], offsets that
were gone before they could be read) or null.

The file's SHA-256, and one SHA-256 per block of ``block_lines`` lines, so that
``edc-latency verify`` can say where a changed byte is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import orjson

from agents.audit.framing import EXPORT_FORMAT

BLOCK_LINES = 1000


@dataclass(slots=True)
class PartitionRead:
    log_start: int
    start: int
    end: int = 0
    first: int | None = None
    last: int | None = None
    count: int = 0
    first_timestamp: int | None = None  # ms, as Kafka keeps it
    missing: list[int] | None = None  # [from, to], inclusive

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class LineDigests:
    """SHA-256 of the whole file and of each block of lines, fed line by line."""

    block_lines: int = BLOCK_LINES
    lines: int = 0
    whole: Any = field(default_factory=hashlib.sha256)
    _block: Any = field(default_factory=hashlib.sha256)
    blocks: list[str] = field(default_factory=list)

    def add(self, line: bytes) -> None:
        self.whole.update(line)
        self._block.update(line)
        self.lines += 1
        if self.lines % self.block_lines == 0:
            self.blocks.append(self._block.hexdigest())
            self._block = hashlib.sha256()

    def finish(self) -> list[str]:
        if self.lines % self.block_lines:
            self.blocks.append(self._block.hexdigest())
            self._block = hashlib.sha256()
        return self.blocks


def manifest_path(export: Path) -> Path:
    return export.with_name(export.name.removesuffix(".jsonl") + ".manifest.json")


def dumps(manifest: dict[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def build_manifest(
    export: Path,
    digests: LineDigests,
    count: int,
    partitions: dict[str, dict[int, PartitionRead]],
    topics: list[str],
    since: str | None,
    until: str | None,
    previous: Path | None,
) -> dict[str, Any]:
    gaps = [
        {"topic": t, "partition": p, "from": read.missing[0], "to": read.missing[1]}
        for t, reads in sorted(partitions.items())
        for p, read in sorted(reads.items())
        if read.missing
    ]
    return {
        "format": EXPORT_FORMAT,
        "file": export.name,
        "topics": sorted(topics),
        "partitions": {
            t: {str(p): read.as_dict() for p, read in sorted(reads.items())}
            for t, reads in sorted(partitions.items())
        },
        "count": count,
        "lines": digests.lines,
        "since": since,
        "until": until,
        "sha256": digests.whole.hexdigest(),
        "block_lines": digests.block_lines,
        "block_sha256": digests.finish(),
        "previous": None
        if previous is None
        else {
            "manifest": previous.name,
            "sha256": hashlib.sha256(previous.read_bytes()).hexdigest(),
        },
        "gaps": gaps,
    }


Offset = Annotated[int, msgspec.Meta(ge=0)]
Digest = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
# The export beside its manifest: a file name, never a path (no separator, no "..").
FileName = Annotated[str, msgspec.Meta(pattern=r"^(?!\.\.?$)[^/\\\x00]{1,255}$")]
PartitionKey = Annotated[str, msgspec.Meta(pattern=r"^(0|[1-9][0-9]{0,9})$")]


class _PartitionShape(msgspec.Struct):
    log_start: Offset
    start: Offset
    end: Offset
    count: Offset
    first: Offset | None = None
    last: Offset | None = None
    first_timestamp: int | None = None
    missing: list[Offset] | None = None


class _PreviousShape(msgspec.Struct):
    manifest: str
    sha256: Digest


class _ManifestShape(msgspec.Struct):
    """What ``verify``, ``export --previous`` and the replay read of a manifest, typed."""

    format: Literal["edc-latency.export/2"]
    file: FileName
    partitions: dict[str, dict[PartitionKey, _PartitionShape]]
    lines: Offset
    sha256: Digest
    block_lines: Annotated[int, msgspec.Meta(ge=1)]
    block_sha256: list[Digest]
    previous: _PreviousShape | None = None
    since: str | None = None


_WHERE = re.compile(r" - at `\$(.*)`\Z")
_MISSING = re.compile(r"Object missing required field `(\w+)`")


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``; ValueError with one line when it is not one of format 2.

    Every field the readers use is checked for its type and range first, so a
    malformed or forged manifest is one line here, never a traceback further on.
    """
    try:
        manifest = orjson.loads(path.read_bytes())
    except OSError as error:
        raise ValueError(f"{path.name}: {error.strerror}") from None
    except orjson.JSONDecodeError:
        raise ValueError(f"{path.name}: not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path.name}: not a manifest of {EXPORT_FORMAT}")
    try:
        msgspec.convert(manifest, _ManifestShape, strict=True)
    except msgspec.ValidationError as error:
        # msgspec's words may quote the value: name only where it is wrong.
        text = str(error)
        where = _WHERE.search(text)
        at = where.group(1) if where else ""
        missing = _MISSING.match(text)
        if missing is not None:  # the name is one of ours
            at, what = f"{at}.{missing.group(1)}", "missing"
        elif at == ".file":
            what = "not a file name beside the manifest"
        else:
            what = "invalid"
        raise ValueError(
            f"{path.name}: not a manifest of {EXPORT_FORMAT}: {at or 'a field'} {what}"
        ) from None
    return manifest


def next_offsets(previous: dict[str, Any]) -> dict[str, dict[int, int]]:
    """Where an export chained to ``previous`` starts reading, per topic and partition."""
    return {
        topic: {int(p): read["end"] for p, read in reads.items()}
        for topic, reads in previous["partitions"].items()
    }
