"""Which of our modules run compiled, and the import hook that never lets a stale one run.

The install (setup.py) compiles the hot modules of ``streams/`` and ``schemas/`` with
Cython, from the very same ``.py`` files, and writes ``_compiled.json`` beside them: the
SHA-256 of each source it compiled. The ``.py`` stays the reference. Python alone would
load an extension module before the ``.py`` of the same name, so an edited source
(an editable install compiles in the checkout) would silently run the old compiled
code; this finder loads the extension only while its recorded hash equals the source's,
and otherwise the source, with one warning. ``EDC_LATENCY_INTERPRETED=1`` loads every
source (the tests' reference twin, a profile of the Python code).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import warnings
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, ModuleSpec
from importlib.util import spec_from_file_location
from pathlib import Path
from types import ModuleType

MANIFEST = "_compiled.json"
PACKAGES = ("streams", "schemas")
INTERPRETED_ENV = "EDC_LATENCY_INTERPRETED"

# module name -> "compiled" | "interpreted: <why>", for each module imported so far that was
# compiled at install (has an extension or a recorded hash).
STATUS: dict[str, str] = {}
_manifests: dict[str, dict[str, object]] = {}


def forced_interpreted() -> bool:
    return os.environ.get(INTERPRETED_ENV, "") not in ("", "0", "false")


def _manifest(directory: str) -> dict[str, object]:
    found = _manifests.get(directory)
    if found is None:
        try:
            found = json.loads((Path(directory) / MANIFEST).read_bytes())
        except (OSError, ValueError):
            found = {}
        _manifests[directory] = found
    return found


def source_digest(source: Path, _within: frozenset[Path] = frozenset()) -> str:
    """What ``_compiled.json`` records of a compiled module's source: the SHA-256 of its
    ``.py``, and, when a ``.pxd`` beside it declares C types for it, of that ``.pxd`` and
    of every module of ours it cimports (their own digests, recursively). An edited
    ``.pxd`` changes the digest as an edited ``.py`` does, and a module compiled against
    another's C layout (a cimport) runs interpreted with it, never beside a stale one.
    setup.py records the digests with this very function.
    """
    code = source.read_bytes()
    declarations = source.with_suffix(".pxd")
    if not declarations.is_file():
        return hashlib.sha256(code).hexdigest()
    text = declarations.read_bytes()
    digest = hashlib.sha256(code + b"\0" + text)
    root = source.parent.parent  # the packages are top-level: streams/, schemas/
    names = {a or b for a, b in _CIMPORT.findall(text.decode())}
    for name in sorted(names):
        imported = root / (name.replace(".", "/") + ".py")
        # Ours only: Cython's own (cython, libc, cpython) are no file here.
        if imported.is_file() and imported not in _within:
            cover = source_digest(imported, _within | {source})
            digest.update(f"\0{name}\0{cover}".encode())
    return digest.hexdigest()


# "from streams.tally cimport Tally" or "cimport streams.tally", in a .pxd
_CIMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+cimport\b|cimport\s+([\w.]+))", re.MULTILINE)


def _extension(directory: Path, name: str) -> Path | None:
    for suffix in EXTENSION_SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def choose(fullname: str, directory: Path) -> tuple[Path, bool, str]:
    """The file to load for ``fullname`` in ``directory``: (path, compiled?, why).

    Compiled only if the manifest names the module with the SHA-256 of today's source.
    """
    name = fullname.rpartition(".")[2]
    source = directory / f"{name}.py"
    extension = _extension(directory, name)
    recorded = _manifest(str(directory)).get("modules", {})
    expected = recorded.get(name) if isinstance(recorded, dict) else None
    if extension is None:
        # Not one of the compiled modules (setup.py's list), or its compilation failed.
        return source, False, "" if expected is None else "interpreted: its build failed"
    if forced_interpreted():
        return source, False, f"interpreted: {INTERPRETED_ENV} is set"
    if expected != source_digest(source):
        warnings.warn(
            f"{fullname}: the compiled module is older than {source.name} (or unrecorded); "
            "running the source. Reinstall to compile it again.",
            RuntimeWarning,
            stacklevel=2,
        )
        return source, False, "interpreted: the source changed since it was compiled"
    return extension, True, "compiled"


class CompiledOrSource(MetaPathFinder):
    """Finds the modules of PACKAGES: their extension while it matches its source, else the source."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package = fullname.rpartition(".")[0]
        if package not in PACKAGES or not path:
            return None
        directory = Path(path[0])
        if not (directory / f"{fullname.rpartition('.')[2]}.py").is_file():
            return None
        chosen, compiled, why = choose(fullname, directory)
        if why:
            STATUS[fullname] = why
        if compiled:
            loader = ExtensionFileLoader(fullname, str(chosen))
            return spec_from_file_location(fullname, chosen, loader=loader)
        return spec_from_file_location(fullname, chosen)


def compiled_modules() -> list[str]:
    """The modules imported so far that run compiled."""
    return sorted(name for name, why in STATUS.items() if why == "compiled")


def summary() -> str:
    """One line for the log and ``--version``: what runs compiled, and why the rest does not."""
    compiled = compiled_modules()
    others = sorted({why for why in STATUS.values() if why != "compiled"})
    if compiled and not others:
        return f"compiled ({len(compiled)} modules)"
    if compiled:
        return f"partly compiled ({len(compiled)} of {len(STATUS)} modules; {'; '.join(others)})"
    return "; ".join(others) or "interpreted: no module was compiled at install"


def _install() -> None:
    if not any(isinstance(finder, CompiledOrSource) for finder in sys.meta_path):
        sys.meta_path.insert(0, CompiledOrSource())


_install()
