"""Compiles the hot modules with Cython from their unchanged ``.py`` source, when it can.

Everything else about the package is in pyproject.toml. The ``.py`` files stay the
reference and are installed too; ``_compiled.json`` beside the extensions records the
SHA-256 of each source compiled, and ``schemas/compiled.py`` loads an extension only
while it matches (docs/design.md, "Compiled modules"). Without Cython or a C compiler
the install still succeeds, interpreted, and says so once.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The modules compiled: the engine and what it calls per event, the replay's views, and
# the validator's Python parts. A module listed here must stay plain Python that Cython
# compiles (docs/design.md lists what that excludes); __init__ modules and
# schemas/compiled.py (the loader) never are.
COMPILED = (
    "streams.at_risk",
    "streams.config",
    "streams.deadlines",
    "streams.dedupe",
    "streams.engine",
    "streams.figures",
    "streams.freshness",
    "streams.latency",
    "streams.parts",
    "streams.publish_times",
    "streams.queries",
    "streams.schedules",
    "streams.scorecards",
    "streams.stages",
    "streams.tally",
    "streams.visits",
    "streams.watermarks",
    "streams.windows",
    "schemas.events",
    "schemas.timestamps",
)

# The semantics of Python, so that compiled and interpreted agree by construction:
# annotations are not turned into C types (an `int` annotation would refuse an int
# subclass), and arithmetic keeps Python's rules.
DIRECTIVES = {
    "language_level": "3",
    "annotation_typing": False,
    "binding": True,
    "embedsignature": False,
    "always_allow_keywords": True,
    # A `const char *` typed in a .pxd may take a str's own buffer when the str is ASCII
    # (schemas/timestamps.py checks first); any other str would raise. No module converts
    # between str and C strings otherwise.
    "c_string_encoding": "ascii",
}


def _source(module: str) -> str:
    return module.replace(".", "/") + ".py"


class OptionalCythonBuild(build_ext):
    """build_ext that turns the listed .py into C first, and gives up quietly if it cannot."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        if os.environ.get("EDC_LATENCY_NO_COMPILE", "") not in ("", "0"):
            self._skip("EDC_LATENCY_NO_COMPILE is set")
            return
        try:
            from Cython.Build import cythonize
        except ImportError:
            self._skip("Cython is not installed")
            return
        try:
            translated = cythonize(
                self.extensions,
                compiler_directives=DIRECTIVES,
                quiet=True,
                nthreads=self.parallel or 1,
                build_dir=os.path.join(self.build_temp, "cython"),
            )
            # Keep setuptools' own Extension objects (finalize_options prepared them);
            # only their sources become the generated C.
            sources = {extension.name: extension.sources for extension in translated}
            for extension in self.extensions:
                extension.sources = sources[extension.name]
            # The largest first: the C compiler's parallel jobs then end together, not on
            # one long module alone (engine and latency take three times the smallest).
            self.extensions.sort(key=lambda extension: -_c_size(extension))
            super().run()
        except Exception as error:  # no compiler, no headers: the source runs as it is
            self._skip(f"{type(error).__name__}: {' '.join(str(error).split())[:200]}")
            return
        self._write_manifests()

    def _skip(self, why: str) -> None:
        print(
            f"edc-latency: modules not compiled ({why}); the package runs interpreted",
            file=sys.stderr,
        )
        self.extensions = []

    def _write_manifests(self) -> None:
        import Cython

        by_package: dict[Path, dict[str, str]] = {}
        for extension in self.extensions:
            target = Path(self.get_ext_fullpath(extension.name)).parent
            name = extension.name.rpartition(".")[2]
            digest = _source_digest(Path(_source(extension.name)))
            by_package.setdefault(target, {})[name] = digest
        for directory, modules in by_package.items():
            manifest = {"compiler": f"Cython {Cython.__version__}", "modules": modules}
            (directory / "_compiled.json").write_text(
                json.dumps(manifest, indent=1, sort_keys=True) + "\n"
            )


@functools.cache
def _loader() -> ModuleType:
    # schemas/compiled.py read from its file: the build's environment lacks our dependencies.
    path = Path(__file__).resolve().parent / "schemas" / "compiled.py"
    spec = importlib.util.spec_from_file_location("_edc_latency_loader", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _source_digest(source: Path) -> str:
    """The loader's own rule (``source_digest``: the .py, its .pxd and what that cimports)."""
    return _loader().source_digest(source)  # type: ignore[no-any-return]


def _c_size(extension: Extension) -> int:
    return sum(os.path.getsize(source) for source in extension.sources)


def _gcc_flags() -> list[str]:
    # No debug information: halves the compile time and the size; -O2 as Python's own.
    return ["-O2", "-g0"] if sys.platform != "win32" else []


if __name__ == "__main__":  # as setuptools runs it; tests import OptionalCythonBuild
    setup(
        # One failure (no compiler, no headers) leaves all of them interpreted, said once.
        ext_modules=[
            Extension(module, [_source(module)], extra_compile_args=_gcc_flags())
            for module in COMPILED
        ],
        cmdclass={"build_ext": OptionalCythonBuild},
    )
