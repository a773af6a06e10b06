"""What this release is: its version, the formats it reads and writes, and how it was built.

The version is bumped with every change of a format a running deployment shares
between versions: the engine state inside checkpoints, the checkpoint envelope,
the shard wire between router and shards, the report. ``FORMATS`` lists them, and
CHANGELOG.md states them per release; tests/agents/test_release.py fails when they
change without a new version and a CHANGELOG entry saying what an operator must do.
"""

from __future__ import annotations

import importlib
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import schemas
import schemas.parse
import streams
import streams.scorecards
from schemas.compiled import MANIFEST, STATUS, summary


def _installed_version() -> str:
    try:
        return version("edc-latency")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


VERSION = _installed_version()
PYTHON = platform.python_version()


def _load_compiled() -> None:
    """Import every module the install compiled (its manifest), so that what the loader says
    (``summary``) covers them all, not only those this process happened to import yet."""
    for package in (schemas, streams):
        try:
            recorded = json.loads((Path(package.__file__).parent / MANIFEST).read_bytes())
            names = list(recorded["modules"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # nothing compiled for this package: the summary says why
        for name in names:
            importlib.import_module(f"{package.__name__}.{name}")


# Imported for what they load: the engine and the validator, compiled or not (schemas/compiled.py).
_LOADED = (schemas.parse, streams.scorecards)
_load_compiled()


def core_compiled() -> bool:
    """Whether the engine's hot module runs compiled (setup.py, schemas/compiled.py)."""
    return STATUS.get("streams.engine") == "compiled"


def formats() -> dict[str, str]:
    """The versioned formats of this release, as CHANGELOG.md lists them."""
    from agents.audit.replay.report import FORMAT as REPORT_FORMAT
    from agents.live.checkpoints import FORMAT as CHECKPOINT_FORMAT
    from agents.live.shard_wire import ProgressItem, ShardItem
    from streams.state import STATE_VERSION

    return {
        "engine state": str(STATE_VERSION),
        "checkpoint": CHECKPOINT_FORMAT.decode(),
        # The item kinds this version writes: events (3) and its inputs' progress (4).
        "shard wire": f"{ShardItem.__struct_config__.tag}-{ProgressItem.__struct_config__.tag}",
        "report": REPORT_FORMAT,
    }


def build_labels() -> dict[str, str]:
    """The labels of ``edc_build_info``; ``edc-latency --version`` prints the same."""
    return {
        "version": VERSION,
        "python": PYTHON,
        "compiled": "true" if core_compiled() else "false",
    }


def version_text() -> str:
    labels = build_labels()
    return (
        f"edc-latency {labels['version']} (Python {labels['python']}, "
        f"compiled core: {labels['compiled']}; {summary()})"
    )
