"""An edited source is never shadowed by its stale compiled module, and the process says
which one it runs (schemas/compiled.py, setup.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import streams.engine
from schemas import compiled
from schemas.compiled import INTERPRETED_ENV, MANIFEST, choose, source_digest


def _package(tmp_path: Path, recorded: str | None, extension: bool = True) -> Path:
    """A package directory with mod.py, maybe an extension file, and a manifest."""
    directory = tmp_path / "pkg"
    directory.mkdir()
    (directory / "mod.py").write_text("VALUE = 1\n")
    if extension:
        (directory / f"mod{EXTENSION_SUFFIXES[0]}").write_bytes(b"not loaded by choose()")
    if recorded is not None:
        manifest = {"compiler": "test", "modules": {"mod": recorded}}
        (directory / MANIFEST).write_text(json.dumps(manifest))
    return directory


def _sha(directory: Path) -> str:
    return hashlib.sha256((directory / "mod.py").read_bytes()).hexdigest()


def test_a_compiled_module_that_matches_its_source_is_chosen(tmp_path, monkeypatch):
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    directory = _package(tmp_path, recorded=None)
    (directory / MANIFEST).write_text(json.dumps({"modules": {"mod": _sha(directory)}}))
    path, is_compiled, why = choose("pkg.mod", directory)
    assert (path.name, is_compiled, why) == (f"mod{EXTENSION_SUFFIXES[0]}", True, "compiled")


def test_an_edited_source_runs_instead_of_its_stale_compiled_module(tmp_path, monkeypatch):
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    directory = _package(tmp_path, recorded=None)
    (directory / MANIFEST).write_text(json.dumps({"modules": {"mod": _sha(directory)}}))
    (directory / "mod.py").write_text("VALUE = 2  # edited after the install compiled it\n")
    with pytest.warns(RuntimeWarning, match=r"pkg\.mod: the compiled module is older than mod\.py"):
        path, is_compiled, why = choose("pkg.mod", directory)
    assert (path.name, is_compiled) == ("mod.py", False)
    assert why == "interpreted: the source changed since it was compiled"


def test_an_edited_pxd_runs_the_source_instead_of_its_stale_compiled_module(tmp_path, monkeypatch):
    """A .pxd declares the C layout the extension was compiled with: editing it (or the
    .py or .pxd of a module it cimports) leaves the compiled module stale too."""
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    directory = _package(tmp_path, recorded=None)
    (directory / "mod.pxd").write_text("from pkg.other cimport Other\ncimport cython\n")
    (directory / "other.py").write_text("class Other:\n    pass\n")
    (directory / "other.pxd").write_text("cdef class Other:\n    pass\n")
    recorded = compiled.source_digest(directory / "mod.py")
    (directory / MANIFEST).write_text(json.dumps({"modules": {"mod": recorded}}))
    assert recorded != _sha(directory)  # the .pxd is covered, not the .py alone
    assert choose("pkg.mod", directory)[1:] == (True, "compiled")
    for edited, text in [
        ("mod.pxd", "from pkg.other cimport Other\ncimport cython\n# edited\n"),
        ("other.pxd", "cdef class Other:\n    cdef public object value\n"),
        ("other.py", "class Other:\n    value = None\n"),
    ]:
        before = (directory / edited).read_text()
        (directory / edited).write_text(text)
        with pytest.warns(RuntimeWarning, match=r"pkg\.mod: the compiled module is older"):
            path, is_compiled, why = choose("pkg.mod", directory)
        assert (path.name, is_compiled) == ("mod.py", False), edited
        assert why == "interpreted: the source changed since it was compiled"
        (directory / edited).write_text(before)
        assert choose("pkg.mod", directory)[1] is True


def test_the_build_records_what_the_loader_checks():
    """setup.py's manifest digest is the loader's own (one rule for .py and .pxd)."""
    import setup

    repository = Path(__file__).resolve().parents[2]
    for module in ("streams/engine.py", "streams/latency.py", "streams/config.py"):
        source = repository / module
        assert setup._source_digest(source) == compiled.source_digest(source)


@pytest.mark.parametrize("edit", ["edited", "removed"])
def test_a_changed_or_removed_pxd_runs_the_source(tmp_path, monkeypatch, edit):
    """A .pxd types its module for Cython: its extension is stale once the .pxd changes."""
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    directory = _package(tmp_path, recorded=None)
    declarations = directory / "mod.pxd"
    declarations.write_text("cdef long VALUE\n")
    recorded = source_digest(directory / "mod.py")
    assert recorded != _sha(directory)  # the .pxd is part of the digest
    (directory / MANIFEST).write_text(json.dumps({"modules": {"mod": recorded}}))
    assert choose("pkg.mod", directory)[1:] == (True, "compiled")
    if edit == "edited":
        declarations.write_text("cdef int VALUE\n")
    else:
        declarations.unlink()
    with pytest.warns(RuntimeWarning, match=r"pkg\.mod: the compiled module is older"):
        path, is_compiled, why = choose("pkg.mod", directory)
    assert (path.name, is_compiled) == ("mod.py", False)
    assert why == "interpreted: the source changed since it was compiled"


def test_an_extension_without_a_record_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    directory = _package(tmp_path, recorded=None)
    with pytest.warns(RuntimeWarning):
        path, is_compiled, _why = choose("pkg.mod", directory)
    assert (path.name, is_compiled) == ("mod.py", False)


def test_the_environment_can_ask_for_the_source(tmp_path, monkeypatch):
    directory = _package(tmp_path, recorded=None)
    (directory / MANIFEST).write_text(json.dumps({"modules": {"mod": _sha(directory)}}))
    monkeypatch.setenv(INTERPRETED_ENV, "1")
    assert choose("pkg.mod", directory) == (
        directory / "mod.py", False, f"interpreted: {INTERPRETED_ENV} is set"
    )


def test_a_module_never_compiled_is_not_reported(tmp_path):
    directory = _package(tmp_path, recorded=None, extension=False)
    assert choose("pkg.mod", directory) == (directory / "mod.py", False, "")


def test_this_install_runs_what_its_manifest_records():
    """Compiled exactly where the install compiled (a manifest beside the engine)."""
    manifest = Path(streams.engine.__file__).parent / MANIFEST
    recorded = json.loads(manifest.read_text())["modules"] if manifest.exists() else {}
    assert streams.engine.__file__.endswith(".py") != ("engine" in recorded)
    assert compiled.STATUS.get("streams.engine", "") == ("compiled" if "engine" in recorded else "")


def _version(env: dict[str, str]) -> str:
    printed = subprocess.run(
        [sys.executable, "-m", "agents.cli", "--version"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    return " ".join(printed.split())  # argparse wraps a long version line


def test_the_version_says_which_one_runs():
    import os

    import schemas
    import streams

    recorded = 0
    for package in (streams, schemas):
        manifest = Path(package.__file__).parent / MANIFEST
        if manifest.exists():
            recorded += len(json.loads(manifest.read_text())["modules"])
    base = {k: v for k, v in os.environ.items() if k != INTERPRETED_ENV}
    printed = _version(base)
    if recorded:
        assert printed.endswith(f"compiled core: true; compiled ({recorded} modules))")
        forced = _version({**base, INTERPRETED_ENV: "1"})
        assert forced.endswith(f"compiled core: false; interpreted: {INTERPRETED_ENV} is set)")
    else:
        assert printed.endswith("compiled core: false; interpreted: no module was compiled at install)")


def _build(
    tmp_path: Path, declarations: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """setup.py's build step on a one-line package, in place, as the editable install runs it;
    with ``declarations``, a ``mod.pxd`` beside it (C types for Cython)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def twice(n):\n    return 2 * n\n")
    if declarations is not None:
        (package / "mod.pxd").write_text(declarations)
    repository = Path(__file__).resolve().parents[2]
    script = (
        f"import sys; sys.path.insert(0, {str(repository)!r}); "
        "from setup import OptionalCythonBuild; from setuptools import Extension, setup; "
        "setup(name='pkg', packages=['pkg'], ext_modules=[Extension('pkg.mod', ['pkg/mod.py'])], "
        "cmdclass={'build_ext': OptionalCythonBuild}, script_args=['-q', 'build_ext', '--inplace'])"
    )
    import os

    return subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, **env}, timeout=300,
    )  # fmt: skip


def test_without_a_c_compiler_the_build_succeeds_interpreted_and_says_so_once(tmp_path):
    built = _build(tmp_path, CC="false", LDSHARED="false")
    assert built.returncode == 0, built.stderr
    said = [line for line in built.stderr.splitlines() if line.startswith("edc-latency:")]
    assert len(said) == 1 and "the package runs interpreted" in said[0], built.stderr
    assert not list((tmp_path / "pkg").glob("mod.*.so"))
    assert not (tmp_path / "pkg" / MANIFEST).exists()
    assert choose("pkg.mod", tmp_path / "pkg")[1:] == (False, "")


def test_a_build_records_the_hash_of_the_source_it_compiled(tmp_path, monkeypatch):
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    built = _build(tmp_path)
    assert built.returncode == 0, built.stderr
    manifest = json.loads((tmp_path / "pkg" / MANIFEST).read_text())
    assert manifest["modules"] == {"mod": _sha(tmp_path / "pkg")}
    assert choose("pkg.mod", tmp_path / "pkg")[1:] == (True, "compiled")


def test_a_build_records_the_digest_the_loader_compares_pxd_included(tmp_path, monkeypatch):
    """setup.py records the loader's own digest, .pxd included, or an extension built from a
    .pxd would never be loaded."""
    monkeypatch.delenv(INTERPRETED_ENV, raising=False)
    built = _build(tmp_path, declarations="cpdef long twice(long n)\n")
    assert built.returncode == 0, built.stderr
    manifest = json.loads((tmp_path / "pkg" / MANIFEST).read_text())
    assert manifest["modules"] == {"mod": source_digest(tmp_path / "pkg" / "mod.py")}
    assert manifest["modules"]["mod"] != _sha(tmp_path / "pkg")
    assert choose("pkg.mod", tmp_path / "pkg")[1:] == (True, "compiled")


def test_the_timestamps_source_runs_without_cython_installed():
    """schemas/timestamps.py asks Cython whether it runs compiled; without Cython it is the
    interpreted module it always was (an install without the build requirement)."""
    import os

    script = (
        "import sys; sys.modules['cython'] = None\n"  # `import cython` raises ImportError
        "from schemas.timestamps import _COMPILED, parse_timestamp_us\n"
        "print(_COMPILED, parse_timestamp_us('2026-01-05T09:12:44.5+01:00'))\n"
    )
    env = {**os.environ, INTERPRETED_ENV: "1"}
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert ran.stdout.split() == ["False", "1767600764500000"]
