"""The replay's outputs stay byte-identical to those of the code before the speed work.

The SHA-256 of each output file was recorded by running the replay of the code
before the change (main's) on the bundled sample and on the bench's realistic
mix at a small size, which is regenerated here deterministically (its generator,
``bench/realistic_mix.py``, must therefore not change either). To re-record
after an intended change of the outputs, run main's code at that point (e.g. a
``git archive main`` extracted elsewhere, with ``bench/realistic_mix.py`` copied
in) on the same inputs and options, and paste the ``sha256sum`` of each file.
Last recorded from main at 243f63d (with the coverage section, windows.csv and the
neutralised CSV cells of issue 14), then deliberately re-recorded by issue 26 (release
0.2.0) from its own code: over SLA counted when the deadline passes and the share within
SLA of the entries decided (CHANGELOG.md lists what changed); entries.csv and queries.csv
are unchanged. Then, merged with
issue 21: report.json and report.html only, deliberately: ``input.event_time_bound``
added (a plain JSONL has no message timestamps, so no future-skew bound), and the page
says so beside the input counts and words the after-the-period count anew. Then, for
release 0.3.0, deliberately: issue 22, report.json and report.html only: new top-level
sections ``at_risk`` and ``uptime`` (report.json; every other key byte-for-byte as before),
and in report.html the block "At risk as of T" after the latency table and the table
"Freshness and data-integration uptime (30 days)" before "Latency distribution"; issue 23
(the simulated studies' ONC-301 default dashboard has pipeline stages): report.json gains
the ``stages`` section and one reason of an invalid line lists the new schema
``pipeline.stage/1``; report.html gains the "Where latency accrues" section, that reason
and the version 0.3.0; ``stages.csv`` is new; issue 23 (visit to entry): report.json gains
its top-level ``visit_to_entry`` section and report.html its "Visit to entry" section, and
visit_to_entry.csv is new (the realistic mix carries no visit dates, so its section counts
every entry as without one). The other files are unchanged. Then, deliberately, the review
of issue 22: report.json and report.html only. (1) A late slot (its instant reached, its
publish not come) no longer stays the next expected publish: ``at_risk.studies.<study>.<dashboard>
.next_publish`` is the slot after it (sample, as of 2026-01-09T00:00Z, a slot instant:
CV-204 2026-01-10T00:00Z, was 2026-01-09T00:00Z; NEU-112 06:00Z, was 00:00Z; the mix:
NEU-112 06:00Z, was 00:00Z; ONC-301 default 00:30Z, was 00:00Z, and its
``certain_breaches`` 2, was 0; RES-417 00:30Z, was 2026-04-09T23:30Z). (2) The simulated
studies' stall and staleness thresholds follow their schedules
(deploy/simulated-studies.toml): ``uptime.studies.<study>.<dashboard>.publish_stale_after_s`` 24300
(ONC-301 safety, NEU-112) and 92700 (CV-204), ``data_stale_after_s`` 92700 (CV-204), and in
the sample the minutes and uptime they judge (CV-204 1.0, was 0.2515; NEU-112 0.7611, was
0.7369; ONC-301 safety 1.0, was 0.987). The CSVs are unchanged. Then release 0.3.1:
report.html's provenance names the version, and its words on certain breaches say a late scheduled
run saves them too (the late-slot rule); nothing else.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.cli import main
from bench.realistic_mix import AS_OF as MIX_AS_OF
from bench.realistic_mix import write_realistic_mix
from schemas.timestamps import seconds_ms

SAMPLE = Path("agents/data/sample-events.jsonl")
STUDIES = Path("deploy/simulated-studies.toml")
OUTPUTS = (
    "report.json", "entries.csv", "queries.csv", "scorecard.csv", "windows.csv", "report.html",
    "stages.csv", "visit_to_entry.csv",
)  # fmt: skip

FROZEN = {
    "sample": {
        "report.json": "f526e68cfc5d0203302dde88d7164e9fe8655a264d40c1c9db427a0cfe8b8764",
        "entries.csv": "9ab9420e5e37f8859cd1866036f54d9882e835d04cba8a7d65414aa96711e373",
        "queries.csv": "601c6ccbf43c9f81dffcf29ef876557729c78f0929b71d05b927aaf6f1d105d7",
        "scorecard.csv": "2f9212955a344122d867210212b82b6176c55194040fca053f6fd31dc63d873a",
        "windows.csv": "79e784c21436294c81b653e4d6e1768f5d09f734e4d740f9f16681757994e929",
        "report.html": "b7be87ceec889db02f6e4025300da4f05e65f4af31a1ca9dd260ec4d413700d8",
        "stages.csv": "b7d9c64e93ea83b68623a7a6d30bd9e3fb71c1de50d975505d8e70634944dca6",
        "visit_to_entry.csv": "9e68a47561f5a7ca67e761d8e6ea40068b6fafdcb78191703ee71e90a69df2c6",
    },
    # write_realistic_mix(path, 150_000) (169,690 lines), as of its AS_OF.
    "realistic mix": {
        "report.json": "509c3da10c23318e9b8ed606965e71a9a360d505893592d684db21ad54505c08",
        "entries.csv": "f14cf62411904106e14863280576df839cf13b1b85b5fd1de25b00c925cfd0b8",
        "queries.csv": "d8713e65811f5c79c5e2ab87f8a9cccaec452629494772c3cebb58644d31a41f",
        "scorecard.csv": "8b25e852fb17855c402a5288e1ad4d130efbe15dc47fae27351b34d5c7dbf609",
        "windows.csv": "4f19e39c1c7a892986cbc0460b868dc9a1330b7249c86a83926f610d762268db",
        "report.html": "bb305203dbba5aafa533766af9438a2f6b45ab3029f3bb650f4bcd19d16fb827",
        "stages.csv": "4d468d893872e80640df4d9042a800f0a8ddd254810383c1dea3b4b3e8836861",
        "visit_to_entry.csv": "48c2dc9c68dd74f4199e052931ecfdb13b1609bc59f621981f24891e66b4bfdb",
    },
}


@pytest.fixture(scope="module")
def realistic_mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mix") / "mix150k.jsonl"  # its name is in report.json
    write_realistic_mix(path, 150_000)
    return path


def _replay(source: Path, as_of: str, out: Path, *extra: str) -> dict[str, str]:
    argv = ["replay", "--input", str(source), "--as-of", as_of, "--out", str(out), "--quiet",
            "--config", str(STUDIES), *extra]  # fmt: skip
    assert main(argv) == 0
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in OUTPUTS}


def test_the_bundled_sample_gives_the_frozen_outputs(tmp_path):
    assert _replay(SAMPLE, "2026-01-09T00:00:00Z", tmp_path / "out") == FROZEN["sample"]


def test_the_realistic_mix_gives_the_frozen_outputs(tmp_path, realistic_mix):
    assert _replay(realistic_mix, MIX_AS_OF, tmp_path / "out") == FROZEN["realistic mix"]


@given(us=st.integers(-(10**15), 10**15))
def test_latency_text_is_the_rounded_seconds_with_three_decimals(us):
    from agents.audit.replay.tables import _seconds_text

    assert _seconds_text(us) == f"{seconds_ms(us):.3f}"
