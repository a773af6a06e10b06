"""Issue 27's named boundary mutants, each applied alone to a scratch copy, against the
tests of ``make test`` that should kill it: ``python -m mutation.named``.

mutmut does not mutate ``agents/`` (the replay's row walk) and numbers its mutants
afresh on every edit; this list names them by file, line text and change, and fails
(exit 1) when a test suite lets one pass or a line is no longer found.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = ("tests/streams/test_boundaries.py", "tests/streams/test_rules.py")
REPLAY = ("tests/agents/audit/test_replay_boundaries.py",)

# (file, the line as it reads, what changes in it, into what, the tests that must fail)
NAMED: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("streams/latency.py", "self.tally.add(latency, latency <= self.sla_us)",
     "<=", "<", FAST),
    ("streams/latency.py", "self.tally.lower(old, latency, old <= sla_us, latency <= sla_us)",
     "old <= sla_us", "old < sla_us", FAST),
    ("streams/latency.py", "self.tally.lower(old, latency, old <= sla_us, latency <= sla_us)",
     "latency <= sla_us", "latency < sla_us", FAST),
    ("streams/latency.py", "if latency <= sla_us < old:", "<=", "<", FAST),
    ("streams/latency.py", "if latency <= sla_us:", "<=", "<", FAST),  # every such line
    ("streams/latency.py", "if cutoffs and cutoffs[-1] >= entered_us:", ">=", ">", FAST),
    ("streams/latency.py", "best = self.snapshot_times[bisect_left(cutoffs, entered_us)]",
     "bisect_left", "bisect_right", FAST),
    ("streams/engine.py", "if time_us < base - retention:", "<", "<=", FAST),
    # The replay's row walk (entries.csv) asks the rules of streams/latency.py since issue 25
    # ("rules once"): within_sla for a published entry, overdue_before for a pending one.
    ("streams/latency.py", "return latency_us <= sla_us", "<=", "<", REPLAY),
    ("agents/audit/replay/tables.py", "overdue = entered_us < overdue_before(as_of_us, sla_us)",
     "<", "<=", REPLAY),
)  # fmt: skip
COPIED = ("streams", "schemas", "agents", "tests", "docs", "deploy", "pyproject.toml")


def main() -> int:
    survivors = 0
    with tempfile.TemporaryDirectory(prefix="edc-named-mutants-") as scratch:
        copy = Path(scratch)
        ignore = shutil.ignore_patterns("__pycache__", ".hypothesis")
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=ignore)
            else:
                shutil.copy2(source, copy / name)
        for path, line, old, new, tests in NAMED:
            target = copy / path
            original = target.read_text()
            lines = original.split("\n")
            hits = [i for i, text in enumerate(lines) if line in text]
            if not hits:
                print(f"NOT FOUND {path}: {line!r}")
                survivors += 1
                continue
            for i in hits:  # each occurrence is a mutant of its own
                mutated = lines.copy()
                mutated[i] = mutated[i].replace(old, new, 1)
                text = "\n".join(mutated)
                if new == "bisect_right":
                    text = text.replace("from bisect import bisect_left",
                                        "from bisect import bisect_left, bisect_right", 1)  # fmt: skip
                target.write_text(text)
                done = subprocess.run(
                    [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                    cwd=copy, capture_output=True, text=True,
                )  # fmt: skip
                target.write_text(original)
                failed = [x[7:] for x in done.stdout.splitlines() if x.startswith("FAILED ")]
                where = f"{path}:{i + 1} {old} -> {new}"
                if done.returncode == 1 and failed:
                    print(f"killed   {where}: {failed[0]}")
                else:
                    survivors += 1
                    print(f"SURVIVED {where} (pytest exit {done.returncode})")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
