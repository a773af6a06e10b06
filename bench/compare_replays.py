"""Two source trees' replays of one input, in turns: the same bytes out, and their times.

    python -m bench.compare_replays --base DIR --input FILE [--rounds 3] [--jobs 1 2]

``--base`` is another checkout of this project (e.g. ``git archive main | tar -x``),
run with this interpreter and ``PYTHONPATH`` set to it; the other tree is this one.
Copy the base's compiled modules (``*.so`` and ``_compiled.json`` of ``streams/`` and
``schemas/``) beside its sources to compare compiled code: ``schemas/compiled.py``
loads an extension only while its recorded hash matches its source.

Each round runs base then this tree, at each ``--jobs``, with
``--config deploy/simulated-studies.toml`` and the realistic mix's ``--as-of``; every
output file but run.json (which says when and how long) must be byte-identical, or
the script exits 1 naming the files. Times are wall seconds and CPU seconds of the
replay and every process it started (``os.wait4``): on a shared machine the CPU time
is the figure the neighbours disturb least.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.realistic_mix import AS_OF

HERE = Path(__file__).resolve().parent.parent
STUDIES = "deploy/simulated-studies.toml"


def replay_once(
    tree: Path,
    source: Path,
    out: Path,
    jobs: int | None,
    as_of: str,
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """(wall s, CPU s of the replay and its children) of one replay run with ``tree``'s code."""
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "agents.cli", "replay", "--input", str(source), "--quiet",
               "--as-of", as_of, "--config", str(tree / STUDIES), "--out", str(out),
               *(["--jobs", str(jobs)] if jobs is not None else [])]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=tree, env=environment)
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"replay with {tree} exited {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def differing(left: Path, right: Path) -> list[str]:
    """Output files that differ or exist on one side only (run.json excepted)."""
    names = {p.name for p in left.iterdir()} | {p.name for p in right.iterdir()}
    names.discard("run.json")
    return sorted(
        name for name in names
        if not ((left / name).is_file() and (right / name).is_file()
                and filecmp.cmp(left / name, right / name, shallow=False))
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, type=Path, help="the other source tree")
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--as-of", default=AS_OF)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", nargs="*", default=["default"],
                        help="--jobs values to run ('default': the command's own)")  # fmt: skip
    parser.add_argument("--trees", default="base,this", help="which trees, in turn order")
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "this": HERE}
    order = args.trees.split(",")
    results: dict[str, dict[str, list[list[float]]]] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="edc-compare-") as tmp:
        for round_ in range(args.rounds):
            for jobs_text in args.jobs:
                jobs = None if jobs_text == "default" else int(jobs_text)
                outs = {}
                for name in order:
                    out = outs[name] = Path(tmp) / f"{name}-{jobs_text}-{round_}"
                    wall, cpu = replay_once(trees[name], args.input.resolve(), out, jobs,
                                            args.as_of)  # fmt: skip
                    used = json.loads((out / "run.json").read_text()).get("jobs", 1)
                    results.setdefault(f"jobs={jobs_text}", {}).setdefault(name, []).append(
                        [round(wall, 2), round(cpu, 2), used]
                    )
                    print(f"round {round_} jobs={jobs_text} {name}: wall {wall:.2f} s, "
                          f"CPU {cpu:.2f} s, ran with --jobs {used}", file=sys.stderr)  # fmt: skip
                if len(order) == 2:
                    bad = differing(outs[order[0]], outs[order[1]])
                    if bad:
                        failed = True
                        print(f"DIFFER at jobs={jobs_text}: {', '.join(bad)}", file=sys.stderr)
                    else:
                        count = len(list(outs[order[0]].iterdir())) - 1
                        print(f"identical: {count} files", file=sys.stderr)
    print(json.dumps({"load_average": os.getloadavg(), "results": results}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
