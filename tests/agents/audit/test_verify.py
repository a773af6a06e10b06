"""``edc-latency verify`` on malformed and forged manifests: one line each, gaps from the offsets.

No broker: a chain is written as the export writes it (framing, LineDigests,
build_manifest); tests/integration/test_audit_coverage.py verifies real exports.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.audit.framing import EXPORT_HEADER, record_line
from agents.audit.manifest import LineDigests, PartitionRead, build_manifest, dumps, manifest_path
from agents.cli import main

FUZZ = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1  # make fuzz


def _export(
    directory: Path, name: str, start: int, end: int, previous: Path | None, log_start: int = 0
) -> Path:
    """An export of topic t, partition 0, offsets start..end-1, and its manifest."""
    out = directory / f"{name}.jsonl"
    digests = LineDigests()
    lines = [EXPORT_HEADER] + [
        record_line("t", 0, offset, 1_767_225_600_000 + offset, b'{"n": %d}' % offset)
        for offset in range(start, end)
    ]
    for line in lines:
        digests.add(line)
    out.write_bytes(b"".join(lines))
    read = PartitionRead(log_start=log_start, start=start, end=end, count=end - start)
    if end > start:
        read.first, read.last, read.first_timestamp = start, end - 1, 1_767_225_600_000 + start
    manifest = build_manifest(
        out, digests, end - start, {"t": {0: read}}, ["t"], None, None, previous
    )
    path = manifest_path(out)
    path.write_bytes(dumps(manifest))
    return path


def _chain(directory: Path) -> list[Path]:
    first = _export(directory, "a", 0, 20, None)
    return [first, _export(directory, "b", 20, 30, first)]


def _edit(path: Path, change: Any) -> None:
    manifest = json.loads(path.read_bytes())
    change(manifest)
    path.write_bytes(orjson.dumps(manifest))


def test_an_untouched_chain_verifies(tmp_path, capsys):
    assert main(["verify", *map(str, _chain(tmp_path))]) == 0
    assert "2 export(s): digests, links and offsets hold" in capsys.readouterr().out


def test_a_path_in_the_file_field_is_one_line_not_a_traceback(tmp_path, capsys):
    first, second = _chain(tmp_path)
    for traversal in ("../../etc/passwd", "/etc/passwd", "..", "sub/dir.jsonl", "a\\b"):
        _edit(second, lambda m, value=traversal: m.update(file=value))
        assert main(["verify", str(first), str(second)]) == 6
        err = capsys.readouterr().err.splitlines()
        assert err == [
            "b.manifest.json: not a manifest of edc-latency.export/2: .file not a file name "
            "beside the manifest",
            "edc-latency verify: verification failed: 1 problem(s)",
        ]


def test_a_forged_missing_field_cannot_hide_a_gap(tmp_path, capsys):
    first = _export(tmp_path, "a", 0, 20, None)
    # The next export starts at 30 (offsets 20-29 were deleted before it read them) and
    # its manifest was edited: `missing` says something else and `gaps` is empty.
    second = _export(tmp_path, "b", 30, 40, first, log_start=30)
    _edit(second, lambda m: (m["partitions"]["t"]["0"].update(missing=[0, 0]), m.update(gaps=[])))
    digest = __import__("hashlib").sha256(first.read_bytes()).hexdigest()
    assert json.loads(second.read_bytes())["previous"]["sha256"] == digest
    assert main(["verify", str(first), str(second)]) == 6
    assert "b.manifest.json: t[0]: offsets 20–29 missing" in capsys.readouterr().err
    # The same with `missing` and `gaps` removed altogether.
    _edit(second, lambda m: m["partitions"]["t"]["0"].pop("missing"))
    assert main(["verify", str(first), str(second)]) == 6
    assert "offsets 20–29 missing" in capsys.readouterr().err


def test_offsets_that_do_not_agree_are_named(tmp_path, capsys):
    first, second = _chain(tmp_path)
    _edit(second, lambda m: m["partitions"]["t"]["0"].update(count=99))
    assert main(["verify", str(first), str(second)]) == 6
    assert "t[0]: offsets do not agree" in capsys.readouterr().err


# Values a forger or a broken tool might write anywhere in a manifest.
_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["../x", "/etc/passwd", "a" * 64, "0", "-1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@settings(
    max_examples=FUZZ * 150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), junk=_junk, drop=st.booleans())
def test_any_malformed_manifest_is_a_line_per_problem_never_a_traceback(data, junk, drop, capsys):
    with tempfile.TemporaryDirectory() as directory:
        first, second = _chain(Path(directory))
        target = data.draw(st.sampled_from([first, second]))
        manifest = json.loads(target.read_bytes())
        path = data.draw(st.sampled_from(_paths(manifest)[1:]))
        holder = manifest
        for key in path[:-1]:
            holder = holder[key]
        if drop:
            del holder[path[-1]]
        else:
            holder[path[-1]] = junk
        target.write_text(json.dumps(manifest))  # json: integers beyond 64 bits too
        status = main(["verify", str(first), str(second)])
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        if status == 0:  # the change was harmless (e.g. a field verify does not read)
            assert out.err == ""
        else:
            assert status == 6 and out.err.endswith("problem(s)\n")
            assert all(line and len(line) < 400 for line in out.err.splitlines())
