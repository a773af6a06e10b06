"""Exit statuses: one meaning each, from one table (agents/errors.py), the README's copy equal to it.

Each status is reached by running the real command in a process of its own and
checking the status and the one line it prints. Status 3 from a real record batch
needs a broker: tests/integration/test_codecs.py runs it (worker and export).
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import agents
from agents.audit.framing import EXPORT_HEADER, record_line
from agents.audit.manifest import LineDigests, PartitionRead, build_manifest, dumps, manifest_path
from agents.cli import COMMANDS
from agents.errors import KINDS, EdcLatencyError, exit_statuses
from agents.harness.broker import free_port
from tests.ctrl_c import as_a_terminal_starts_it

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "agents" / "data" / "sample-events.jsonl"
AS_OF = "2026-01-09T00:00:00Z"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without our settings; temporary files under ``tmp_path``."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("EDC_LATENCY_") and name != "KAFKA_BOOTSTRAP_SERVERS"
    }
    return {**kept, "TMPDIR": str(tmp_path), **extra}


def _edc(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *argv],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _python(tmp_path: Path, script: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *argv],
        cwd=tmp_path,
        env=_env(tmp_path, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _only_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- the table ------------------------------------------------------------------------


def _table_in(path: Path) -> list[tuple[int, str, str]]:
    section = path.read_text().split("\n## Exit statuses\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]
    return [(int(status), kind, meaning) for status, kind, meaning in cells]


@pytest.mark.parametrize("document", ["README.md", "docs/operations.md"])
def test_the_documents_carry_the_table_of_the_code(document):
    assert _table_in(REPO / document) == exit_statuses()


def test_every_status_has_one_kind():
    statuses = [status for status, _kind, _meaning in exit_statuses()]
    kinds = [kind for _status, kind, _meaning in exit_statuses()]
    assert len(set(statuses)) == len(statuses) and len(set(kinds)) == len(kinds)
    assert statuses == sorted(statuses)


def _subclasses(root: type[EdcLatencyError]) -> set[type[EdcLatencyError]]:
    found = set(root.__subclasses__())
    for child in list(found):
        found |= _subclasses(child)
    return found


def test_every_error_of_ours_is_a_row_of_the_table():
    for module in pkgutil.walk_packages(agents.__path__, "agents."):
        importlib.import_module(module.name)
    rows = {(status, kind) for status, kind, _meaning in exit_statuses()}
    errors = _subclasses(EdcLatencyError)
    # The classes of agents/ that shared no base before; streams/ keeps its ValueErrors.
    named = {cls.__name__ for cls in errors}
    assert {
        "ConfigurationError", "BrokerUnreachable", "UndecodableBatch", "BadInput",
        "WireError", "BrokerError", "ReaderFailed", "TablesFailed", "JobFailed",
    } <= named  # fmt: skip
    assert "NotCovered" in named  # replay --require-complete raises this kind itself
    for cls in errors | set(KINDS):
        assert (cls.exit_status, cls.kind) in rows, cls


def _status_literals(tree: ast.AST) -> list[int]:
    """Integer statuses a module chooses itself: ``return N`` in a command, ``*exit(N)``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (
            node.name == "run" or node.name.startswith("_run")
        ):
            found += [
                ret.value.value
                for ret in ast.walk(node)
                if isinstance(ret, ast.Return)
                and isinstance(ret.value, ast.Constant)
                and ret.value.value not in (0, None)
            ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("exit", "_exit")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append(node.args[0].value)
    return found


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_command_chooses_a_status_of_its_own(name):
    module = importlib.import_module(COMMANDS[name][0])
    assert _status_literals(ast.parse(Path(module.__file__ or "").read_text())) == []


def test_nothing_in_agents_exits_with_a_number_of_its_own():
    for path in sorted((REPO / "agents").rglob("*.py")):
        assert _status_literals(ast.parse(path.read_text())) == [], path


# -- each status, from the real command ----------------------------------------------


def test_0_ok(tmp_path):
    result = _edc(tmp_path, "simulate", "--events", "20", "--out", "events.jsonl")
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "events.jsonl").read_bytes().splitlines()) == 20


UNEXPECTED = """
import sys
from agents import cli
from agents.errors import EdcLatencyError
import agents.sim.simulate as simulate

def broken(**_options):
    raise EdcLatencyError("a bug nobody named")

simulate.Simulation = broken
sys.exit(cli.main(["simulate", "--events", "1"]))
"""


def test_1_unexpected_error_keeps_its_traceback(tmp_path):
    result = _python(tmp_path, UNEXPECTED)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().endswith("EdcLatencyError: a bug nobody named")


def test_2_configuration(tmp_path):
    result = _edc(tmp_path, "replay", "--input", "missing.jsonl", "--as-of", AS_OF, "--out", "r")
    assert result.returncode == 2
    assert _only_line(result).startswith(
        "edc-latency replay: configuration: --input missing.jsonl: No such file"
    )


def test_2_configuration_of_several_problems_on_one_line(tmp_path):
    result = _edc(
        tmp_path,
        "worker",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        EDC_LATENCY_METRICS_PORT="x",
        EDC_LATENCY_SESSION_TIMEOUT="y",
    )
    assert result.returncode == 2
    line = _only_line(result)
    assert line.startswith("edc-latency worker: configuration: invalid configuration: ")
    problems = line.removeprefix("edc-latency worker: configuration: invalid configuration: ")
    assert sorted(problem.split(": ")[0] for problem in problems.split("; ")) == [
        "metrics_port",
        "session_timeout",
    ]


def test_4_period_not_covered_with_the_report_written(tmp_path):
    result = _edc(
        tmp_path, "replay", "--input", str(SAMPLE), "--as-of", AS_OF, "--out", "r",
        "--quiet", "--require-complete",
    )  # fmt: skip
    assert result.returncode == 4
    assert _only_line(result) == (
        "edc-latency replay: not covered: coverage unknown: "
        "the input has no export manifest beside it"
    )
    assert (tmp_path / "r" / "report.json").is_file()


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--out", "a.jsonl"],
        ["replay", "--from-topics", "--as-of", AS_OF, "--out", "r", "--quiet"],
        ["worker"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_5_broker_unreachable(tmp_path, argv):
    bootstrap = f"127.0.0.1:{free_port()}"  # bound and released: nothing listens there
    result = _edc(
        tmp_path, *argv, KAFKA_BOOTSTRAP_SERVERS=bootstrap, EDC_LATENCY_STARTUP_TIMEOUT="1s"
    )
    assert result.returncode == 5
    line = _only_line(result)
    assert line.startswith(f"edc-latency {argv[0]}: broker unreachable: could not reach Kafka at ")
    assert bootstrap in line


def _export(tmp_path: Path) -> Path:
    """An export of three messages and its manifest, as `edc-latency export` writes them."""
    out = tmp_path / "audit.jsonl"
    digests = LineDigests()
    lines = [EXPORT_HEADER] + [
        record_line("edc.entries", 0, offset, 1_767_225_600_000, b'{"n": %d}' % offset)
        for offset in range(3)
    ]
    for line in lines:
        digests.add(line)
    out.write_bytes(b"".join(lines))
    read = PartitionRead(log_start=0, start=0, first=0, last=2, count=3, end=3)
    manifest = build_manifest(out, digests, 3, {"edc.entries": {0: read}}, ["edc.entries"],
                              None, None, None)  # fmt: skip
    manifest_path(out).write_bytes(dumps(manifest))
    return out


def test_6_verification_failed(tmp_path):
    export = _export(tmp_path)
    manifest = str(manifest_path(export))
    assert _edc(tmp_path, "verify", manifest).returncode == 0
    export.write_bytes(export.read_bytes().replace(b'{\\"n\\": 1}', b'{\\"n\\": 9}'))
    result = _edc(tmp_path, "verify", manifest)
    assert result.returncode == 6
    problem, last = result.stderr.strip().splitlines()
    assert problem == "audit.jsonl: lines 1–4: changed since the export (SHA-256 differs)"
    assert last == "edc-latency verify: verification failed: 1 problem(s)"


STOP_FATALLY = """
import sys
from agents.errors import ShardsNotRestored
from agents.kafka.codecs import UndecodableBatch
from agents.live.app import LiveApp
from agents.settings import load_settings

live = LiveApp(load_settings(bootstrap_servers="127.0.0.1:1"))
errors = {
    "3": UndecodableBatch("edc.entries", 0, 7, ValueError("bad CRC")),
    "7": ShardsNotRestored("shards [0, 1] not restored after 5 attempts (TimeoutError)"),
}
live.stop_fatally(errors[sys.argv[1]])
"""


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (3, "input not decodable: cannot decode the batch at edc.entries[0]@7: "
            "ValueError: bad CRC"),
        (7, "shards not restored: shards [0, 1] not restored after 5 attempts (TimeoutError)"),
    ],
)  # fmt: skip
def test_a_worker_that_stops_fatally_names_the_kind_and_exits_with_its_status(
    tmp_path, status, line
):
    result = _python(tmp_path, STOP_FATALLY, str(status))
    assert result.returncode == status
    assert _only_line(result) == f"stopping: {line} (exit status {status})"


STOP_NOT_FINISHED = """
import time
from agents.live.worker import _exit_after

_exit_after(1.0)  # what a SIGTERM arms: the stop below never finishes
time.sleep(60)
"""


def test_8_stop_not_finished(tmp_path):
    result = _python(tmp_path, STOP_NOT_FINISHED)
    assert result.returncode == 8
    assert _only_line(result).startswith(
        "stopping: stop not finished: not finished within 1s (broker unreachable?): "
    )


def test_130_interrupted(tmp_path):
    # Far more lines than a pipe holds: it blocks writing until read, so the interrupt
    # lands while the command runs, whatever the machine's speed. Started as from a
    # terminal: a test run started in the background would pass SIGINT on ignored.
    process = subprocess.Popen(
        [sys.executable, "-m", "agents.cli", "simulate", "--days", "100"],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=as_a_terminal_starts_it,
    )
    try:
        assert process.stdout is not None and process.stdout.readline()  # it is writing
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert b"Traceback" not in stderr
