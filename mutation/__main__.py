"""``make mutation``: mutmut over ``streams/`` and ``schemas/``, the fast tests only, and a report.

    python -m mutation [--base REF] [--jobs N] [--recheck-equivalents]
    python -m mutation --survivors      # the last run's survivors again, with today's tests
    python -m mutation --continue       # a stopped run: its survivors and unchecked mutants
    python -m mutation --paths streams/latency.py   # only these files' mutants
    python -m mutation --report-only    # the report from the verdicts so far

Everything is written under ``out/mutation/`` (ignored by git): a copy of the sources and
tests that mutmut works in (its ``mutants/`` folder is inside that copy), the log, and
``report.md`` / ``report.json``. What mutmut runs is configured in pyproject.toml
(``[tool.mutmut]``); the copy takes that file with it.

* ``--base REF``: mutate only the functions whose lines changed since REF (``git diff REF``,
  uncommitted changes included), plus every function of a file that REF does not have.
* Mutants listed in ``mutation/equivalents.toml`` (same function, same changed lines) are
  not run: they are reported as equivalent, with the reason the file gives.
  ``--recheck-equivalents`` runs them too and names any that a test now kills.

The work is three steps, each in its own process whose working directory is the copy
(mutmut reads its configuration and writes its state there): generate the mutants and
their diffs, run the chosen ones, read the verdicts.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# MUTATION_OUT (a folder under the checkout): a second run beside one still going.
OUT = ROOT / os.environ.get("MUTATION_OUT", "out/mutation")
COPY = OUT / "copy"
EQUIVALENTS = Path(__file__).with_name("equivalents.toml")
MUTATED = ("streams", "schemas")
# What the tests read besides the code under test (agents/ is imported from the checkout).
COPIED = ("streams", "schemas", "tests", "docs", "mutation", "pyproject.toml")
SEPARATOR = "ǁ"  # mutmut's, between a class name and a method name in a mutant's name

# Run inside the copy. The diff of every mutant: mutmut's own, as `mutmut show` prints it.
_GENERATE = """
import json, sys
from pathlib import Path
from mutmut.__main__ import (Config, copy_also_copy_files, copy_src_dir, create_mutants,
    get_diff_for_mutant, setup_source_paths, walk_mutatable_files)
from mutmut.mutation.data import SourceFileMutationData
Config.ensure_loaded()
Path("mutants").mkdir(exist_ok=True)
copy_src_dir(); copy_also_copy_files(); setup_source_paths(); create_mutants(int(sys.argv[1]))
diffs = {}
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name in data.exit_code_by_key:
        diffs[name] = [str(path), get_diff_for_mutant(name, path=path)]
Path(sys.argv[2]).write_text(json.dumps(diffs))
"""
_RUN = """
import sys
from pathlib import Path
from mutmut.__main__ import _run
_run(Path(sys.argv[1]).read_text().split(), int(sys.argv[2]))
"""
_VERDICTS = """
import json, sys
from pathlib import Path
from mutmut.__main__ import Config, status_by_exit_code, walk_mutatable_files
from mutmut.mutation.data import SourceFileMutationData
Config.ensure_loaded()
verdicts = {}
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name, code in data.exit_code_by_key.items():
        verdicts[name] = [status_by_exit_code[code], data.durations_by_key.get(name)]
Path(sys.argv[1]).write_text(json.dumps(verdicts))
"""


@dataclass(frozen=True, slots=True)
class Mutant:
    name: str  # mutmut's
    path: str  # the source file, relative to the root
    function: str  # qualified within its module: "GroupLedger.backlog", "arrival"
    removed: str  # the changed lines as the diff shows them, each stripped
    added: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What identifies a mutant across runs: line numbers and mutmut's counters move."""
        return (self.path, self.function, self.removed, self.added)


def function_of(name: str) -> str:
    """``streams.latency.xǁGroupLedgerǁbacklog__mutmut_3`` -> ``GroupLedger.backlog``."""
    mangled = name.partition("__mutmut_")[0].rpartition(".")[2]
    if SEPARATOR in mangled:
        _x, cls, method = mangled.split(SEPARATOR)
        return f"{cls}.{method}"
    return mangled.removeprefix("x_")


def changed_lines(diff: str) -> tuple[str, str]:
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-")
               and not line.startswith("---")]  # fmt: skip
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+")
             and not line.startswith("+++")]  # fmt: skip
    return "\n".join(removed), "\n".join(added)


def load_equivalents() -> dict[tuple[str, str, str, str], str]:
    """(path, function, removed, added) -> why the mutant cannot change what any caller sees."""
    listed = tomllib.loads(EQUIVALENTS.read_text())
    out: dict[tuple[str, str, str, str], str] = {}
    for item in listed.get("equivalent", []):
        key = (item["path"], item["function"], item["removed"].strip(), item["added"].strip())
        out[key] = item["reason"].strip()
    return out


# Not copied: bytecode, and the install's compiled modules with their manifest
# (setup.py, schemas/compiled.py). A mutant is a change of the .py, so the copy runs every
# module from its source; with the manifest beside a mutated source, the loader would warn
# on every import and tests/schemas/test_compiled_loader.py would find the install's
# compiled engine not running (mutmut's first run of the tests then fails, and no mutant runs).
IGNORED = ("__pycache__", "*.pyc", ".hypothesis", "*.so", "*.pyd", "_compiled.json")


def copy_sources() -> None:
    """A fresh copy of what the tests need: mutmut's state never outlives a run."""
    shutil.rmtree(OUT, ignore_errors=True)
    COPY.mkdir(parents=True)
    ignore = shutil.ignore_patterns(*IGNORED)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, COPY / name, ignore=ignore)
        else:
            shutil.copy2(source, COPY / name)


def refresh_copy() -> None:
    """The checkout as it is now into the last run's copy, for ``--survivors``/``--continue``.

    Sources keep their times (copy2): mutmut regenerates the mutants of a file changed
    since, and keeps the verdicts of its functions that did not change. Tests go into
    mutmut's copy as well (it runs them from there).
    """
    if not (COPY / "mutants").is_dir():
        raise SystemExit("no earlier run to go on with: run without --survivors/--continue")
    ignore = shutil.ignore_patterns(*IGNORED)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, COPY / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, COPY / name)
    shutil.copytree(ROOT / "tests", COPY / "mutants" / "tests", ignore=ignore, dirs_exist_ok=True)
    # mutmut records which tests call which function once, by test name: a test whose body
    # changed since would keep its old record and not be run against the mutants of the
    # functions it now calls (its survivors would stay survivors). Recorded again each pass.
    (COPY / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)


def functions_changed_since(base: str) -> set[tuple[str, str]]:
    """(path, function) of every function in streams/ and schemas/ with a line changed."""
    diff = subprocess.run(
        ["git", "diff", "-U0", "--no-color", base, "--", *MUTATED],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lines: dict[str, set[int]] = {}
    path = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            path = None if line == "+++ /dev/null" else line[6:]
        elif line.startswith("@@") and path is not None:
            start, _, count = re.match(r"@@ -\S+ \+(\d+)(,(\d+))? @@", line).groups()  # type: ignore[union-attr]
            first, n = int(start), 1 if count is None else int(count)
            # A deletion (n = 0) touches the lines on either side of where it was.
            lines.setdefault(path, set()).update(range(first, first + max(n, 1) + (n == 0)))
    # Files git does not track yet are new since any base: every line of them changed.
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--", *MUTATED],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for path in untracked:
        if path.endswith(".py"):
            lines[path] = set(range(1, len((ROOT / path).read_text().splitlines()) + 1))
    changed: set[tuple[str, str]] = set()
    for path, touched in lines.items():
        if not path.endswith(".py") or not (ROOT / path).exists():
            continue
        for function, first, last in _functions(ROOT / path):
            if touched & set(range(first, last + 1)):
                changed.add((path, function))
    return changed


def _functions(path: Path) -> list[tuple[str, int, int]]:
    """Top-level functions and methods of top-level classes: what mutmut mutates."""
    tree = ast.parse(path.read_text())
    found = []
    for node in tree.body:
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
        if isinstance(node, kinds):
            found.append((node.name, _first_line(node), node.end_lineno or node.lineno))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, kinds):
                    found.append(
                        (f"{node.name}.{item.name}", _first_line(item), item.end_lineno or 0)
                    )
    return found


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _in_copy(script: str, *args: str, log: Path | None = None) -> None:
    """Run a step of mutmut inside the copy (its working directory, and its sys.path)."""
    with open(log or os.devnull, "a") as out:
        done = subprocess.run(
            [sys.executable, "-c", script, *args], cwd=COPY, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        raise SystemExit(f"mutmut failed (exit {done.returncode}); see {log or 'its output'}")


def current_verdicts(log: Path, mutants: list[Mutant]) -> dict[str, list]:
    """mutmut's verdicts, over those of the earlier passes of this run (``--continue``).

    mutmut forgets every verdict when the test selection changes (``[tool.mutmut]``);
    a verdict it has not given again stands as the last pass gave it (tests only grow),
    if the mutant of that name is still the same change (mutmut renumbers the mutants
    of a function that was edited).
    """
    _in_copy(_VERDICTS, str(OUT / "verdicts.json"), log=log)
    fresh = json.loads((OUT / "verdicts.json").read_text())
    kept_file = OUT / "verdicts-kept.json"
    kept = json.loads(kept_file.read_text()) if kept_file.exists() else {}
    merged: dict[str, list] = {}
    for mutant in mutants:
        verdict = fresh.get(mutant.name, ["not checked", None])
        change = [mutant.removed, mutant.added]
        earlier = kept.get(mutant.name)
        if verdict[0] == "not checked" and earlier and earlier[2:] == change:
            verdict = earlier[:2]
        merged[mutant.name] = [*verdict[:2], *change]
    kept_file.write_text(json.dumps(merged))
    return merged


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="mutate only functions changed since this git ref")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--recheck-equivalents", action="store_true")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run again only the last run's survivors, against the tests as they are now",
    )
    parser.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="go on with a run that was stopped: its survivors and unchecked mutants, "
        "against the tests as they are now (a killed mutant stays killed: tests only grow)",
    )
    parser.add_argument(
        "--paths",
        nargs="+",
        metavar="FILE",
        help="only mutants of these files (e.g. streams/latency.py schemas/timestamps.py)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the report from the verdicts so far (a run still going, or stopped)",
    )
    options = parser.parse_args(argv)

    started = time.monotonic()
    load_before = os.getloadavg()
    log = OUT / "mutmut.log"
    if not options.report_only:
        if options.survivors or options.resume:
            refresh_copy()
        else:
            copy_sources()
        print(f"generating mutants in {COPY.relative_to(ROOT)} (log: {log.relative_to(ROOT)})")
        _in_copy(_GENERATE, str(options.jobs), str(OUT / "diffs.json"), log=log)
    mutants = []
    for name, (path, diff) in json.loads((OUT / "diffs.json").read_text()).items():
        mutants.append(Mutant(name, path, function_of(name), *changed_lines(diff)))

    selected = mutants
    if options.base:
        changed = functions_changed_since(options.base)
        selected = [m for m in mutants if (m.path, m.function) in changed]
    if options.paths:
        selected = [m for m in selected if m.path in options.paths]
    equivalents = load_equivalents()
    equivalent = {m.name for m in selected if m.key in equivalents}
    to_run = [m for m in selected if options.recheck_equivalents or m.name not in equivalent]
    if options.survivors or options.resume:
        last = current_verdicts(log, mutants)
        again = UNDETECTED | ({"not checked", "not run"} if options.resume else set())
        to_run = [m for m in to_run if last.get(m.name, ["not run"])[0] in again]
    print(f"{len(mutants)} mutants; {len(selected)} selected, {len(equivalent)} listed as "
          f"equivalent, {len(to_run)} to run on {options.jobs} processes")  # fmt: skip
    verdicts: dict[str, list] = {}
    if to_run:
        if not options.report_only:
            names = OUT / "names.txt"
            names.write_text("\n".join(m.name for m in to_run))
            _in_copy(_RUN, str(names), str(options.jobs), log=log)
        verdicts = current_verdicts(log, mutants)
    report = build_report(selected, equivalent, equivalents, verdicts, options)
    report["seconds"] = round(time.monotonic() - started)
    report["machine"] = machine(load_before, options.jobs)
    if options.report_only and (OUT / "report.json").exists():
        # What the run cost, as that run measured it: this process ran no mutant.
        report["machine"] = json.loads((OUT / "report.json").read_text()).get("machine")
    (OUT / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (OUT / "report.md").write_text(render(report))
    print(render_summary(report))
    print(f"report: {(OUT / 'report.md').relative_to(ROOT)}")
    return 0


# mutmut's verdicts, as this report counts them: a timeout or a crash is a test that noticed.
DETECTED = {"killed", "timeout", "segfault", "suspicious", "caught by type check"}
UNDETECTED = {"survived", "no tests"}
KNOWN = {"killed", "survived", "equivalent", "score", "timeouts", "seconds"}


def build_report(
    selected: list[Mutant],
    equivalent: set[str],
    equivalents: dict[tuple[str, str, str, str], str],
    verdicts: dict[str, list],
    options: argparse.Namespace,
) -> dict:
    packages: dict[str, Counter[str]] = {p: Counter() for p in MUTATED}
    files: dict[str, Counter[str]] = {}
    seconds: Counter[str] = Counter()  # per file: the wall time of its mutants' test runs
    survivors, stale = [], []
    for mutant in selected:
        counts = (packages[mutant.path.split("/")[0]], files.setdefault(mutant.path, Counter()))
        status, duration = (verdicts.get(mutant.name) or ["not run", None])[:2]
        seconds[mutant.path] += duration or 0
        if mutant.name in equivalent:
            if status in DETECTED:
                stale.append(_describe(mutant, status))  # listed, yet a test tells it apart
            verdict = "equivalent"
        elif status in DETECTED:
            verdict = "killed"
            for counter in counts:
                counter["timeouts"] += status == "timeout"
        elif status in UNDETECTED:
            verdict = "survived"
            survivors.append(_describe(mutant, status))
        else:
            verdict = status
        for counter in counts:
            counter[verdict] += 1
    return {
        "base": options.base,
        "packages": {package: _scored(counts) for package, counts in packages.items()},
        "files": {
            path: {**_scored(counts), "seconds": round(seconds[path])}
            for path, counts in sorted(files.items())
        },
        "survivors": survivors,
        "equivalent": [
            {**_describe(m, "equivalent"), "reason": equivalents[m.key]}
            for m in selected
            if m.name in equivalent
        ],
        "listed_equivalent_but_killed": stale,
    }


def machine(load_before: tuple[float, float, float], jobs: int) -> dict:
    """What the run cost: the CPU time of mutmut's processes, whatever the load was.

    On a shared machine the wall time says more about the neighbours than about the run;
    CPU seconds / cores is what the run would take with those cores to itself.
    """
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime
    return {
        "cpu_seconds": round(cpu),
        "jobs": jobs,
        "cores": os.cpu_count(),
        "alone_on_cores_minutes": round(cpu / min(jobs, os.cpu_count() or jobs) / 60, 1),
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in os.getloadavg()],
    }


def _scored(counts: Counter[str]) -> dict[str, float | int | None]:
    judged = counts["killed"] + counts["survived"]
    return {**counts, "score": None if not judged else round(100 * counts["killed"] / judged, 1)}


def _describe(mutant: Mutant, status: str) -> dict[str, str]:
    return {"name": mutant.name, "path": mutant.path, "function": mutant.function,
            "status": status, "removed": mutant.removed, "added": mutant.added}  # fmt: skip


def render_summary(report: dict) -> str:
    cost = report.get("machine") or {}
    lines = [f"mutation score{' since ' + report['base'] if report['base'] else ''} "
             f"({report['seconds']} s; {cost.get('cpu_seconds')} s of CPU on "
             f"{cost.get('jobs')} processes, ~{cost.get('alone_on_cores_minutes')} min "
             f"with the cores to itself; load {cost.get('load_before')} before, "
             f"{cost.get('load_after')} after):"]  # fmt: skip
    for package, c in report["packages"].items():
        if c["score"] is None:
            lines.append(f"  {package}/: no mutant judged (none selected, or all equivalent)")
            continue
        lines.append(
            f"  {package}/: {c['score']}% killed of non-equivalent ({c.get('killed', 0)} killed, "
            f"{c.get('survived', 0)} survived, {c.get('equivalent', 0)} equivalent; "
            f"{c.get('timeouts', 0)} of the killed by timeout"
            + "".join(f", {n} {status}" for status, n in c.items() if status not in KNOWN)
            + ")"
        )
    if report["listed_equivalent_but_killed"]:
        lines.append(f"  {len(report['listed_equivalent_but_killed'])} listed as equivalent "
                     "are killed now: remove them from mutation/equivalents.toml")  # fmt: skip
    return "\n".join(lines)


def render(report: dict) -> str:
    out = ["# Mutation report", "", render_summary(report), "",
           "Seconds: the wall time of each file's mutants' test runs, summed over the "
           "processes (a share of the run's CPU time, at the load of the day).", "",
           "| file | killed | survived | equivalent | other | score | seconds |",
           "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for path, c in report["files"].items():
        other = sum(n for status, n in c.items() if status not in KNOWN)
        out.append(f"| {path} | {c.get('killed', 0)} | {c.get('survived', 0)} | "
                   f"{c.get('equivalent', 0)} | {other} | {c['score']} | {c['seconds']} |")  # fmt: skip
    out.append("")
    for title, items in (
        ("Survivors (no test tells them apart)", report["survivors"]),
        ("Listed as equivalent but killed", report["listed_equivalent_but_killed"]),
        ("Equivalent (mutation/equivalents.toml)", report["equivalent"]),
    ):
        out += [f"## {title}: {len(items)}", ""]
        for item in items:
            out.append(f"### {item['path']} `{item['function']}` ({item['status']})")
            out.append(f"`{item['name']}`")
            if item.get("reason"):
                out.append(f"\n{item['reason']}")
            out += ["", "```diff"]
            out += [f"- {line}" for line in item["removed"].splitlines()]
            out += [f"+ {line}" for line in item["added"].splitlines()]
            out += ["```", ""]
    out += ["## To list a survivor as equivalent", "",
            "Add to mutation/equivalents.toml, with why no caller can tell it apart:", "",
            "```toml", "[[equivalent]]", 'path = "streams/latency.py"',
            'function = "GroupLedger.backlog"', "removed = '''…'''", "added = '''…'''",
            "reason = '''…'''", "```", ""]  # fmt: skip
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
