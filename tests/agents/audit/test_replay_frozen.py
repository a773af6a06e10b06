"""The replay's outputs stay byte-identical to those of the code before the speed work.

The SHA-256 of each output file was recorded by running the replay of the code
before the change (main's) on the bundled sample and on the bench's realistic
mix at a small size, which is regenerated here deterministically (its generator,
``bench/realistic_mix.py``, must therefore not change either). To re-record
after an intended change of the outputs, run main's code at that point (e.g. a
``git archive main`` extracted elsewhere, with ``bench/realistic_mix.py`` copied
in) on the same inputs and options, and paste the ``sha256sum`` of each file.
Last recorded from main at 243f63d (with the coverage section, windows.csv and the
neutralised CSV cells of issue 14); then, on issue 21's branch, report.json and
report.html only, deliberately: ``input.event_time_bound`` added (a plain JSONL has
no message timestamps, so no future-skew bound), and the page says so beside the
input counts and words the after-the-period count anew. Every figure and the other
four files are unchanged (compared against main's outputs on both inputs).
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
    "report.json", "entries.csv", "queries.csv", "scorecard.csv", "windows.csv", "report.html"
)  # fmt: skip

FROZEN = {
    "sample": {
        "report.json": "c753153d918ac7ec3c5c643a098a9affcd93662c134821093118be6d0e2a17cc",
        "entries.csv": "9ab9420e5e37f8859cd1866036f54d9882e835d04cba8a7d65414aa96711e373",
        "queries.csv": "601c6ccbf43c9f81dffcf29ef876557729c78f0929b71d05b927aaf6f1d105d7",
        "scorecard.csv": "8c59ddfdb35a4b705a74befe61fd9a493c3d9d55ed9baf075d4a208ac274ba36",
        "windows.csv": "0a5afb10c2d03c9201dc1b3bb1123d4a6e57e87425ef5431326aa6f75ac0b12f",
        "report.html": "b1e6d9983fae4cfbf9e042b538cbb17cc9213342d0339cbbac9f08f52209716a",
    },
    # write_realistic_mix(path, 150_000) (169,690 lines), as of its AS_OF.
    "realistic mix": {
        "report.json": "32de71d9ca328fbc909318a64d6e0ea1680be146be21f9a519b783951688c8c6",
        "entries.csv": "f14cf62411904106e14863280576df839cf13b1b85b5fd1de25b00c925cfd0b8",
        "queries.csv": "d8713e65811f5c79c5e2ab87f8a9cccaec452629494772c3cebb58644d31a41f",
        "scorecard.csv": "31c7d071186eb24baabe1a39a56bd3cda2ed4c5afca64d6bb60d31cb1bedc3ad",
        "windows.csv": "f742f092e5a90bc6ac93ba85f8774038f3ec38818e792bf7db0cb0fb80db02f0",
        "report.html": "ca7754a024ac31b0be79e37986cc9e9f32daadf2d471f74e2a7f66277915a86a",
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
