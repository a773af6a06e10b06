"""The interpreted twin of compiled modules: the reference the compiled ones must equal.

The install compiles modules of ``streams/`` and ``schemas/`` (setup.py). The tests
import them as any caller does, compiled where the install compiled them; this loads
the same modules a second time from their ``.py`` source, as separate module objects,
and then puts the loaded ones back, so both run side by side in one process.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from schemas.compiled import INTERPRETED_ENV, STATUS


def _belongs(name: str, packages: tuple[str, ...]) -> bool:
    # The loader itself stays: its finder is the one on sys.meta_path.
    return name != "schemas.compiled" and any(
        name == package or name.startswith(package + ".") for package in packages
    )


def interpreted(names: tuple[str, ...], packages: tuple[str, ...]) -> dict[str, ModuleType]:
    """``names`` imported again from source, with every module of ``packages`` they import.

    Modules outside ``packages`` stay shared (e.g. ``schemas.events`` for the engine's
    twin, so that both engines see the same event classes).
    """
    saved = {name: module for name, module in sys.modules.items() if _belongs(name, packages)}
    status = dict(STATUS)
    before = os.environ.get(INTERPRETED_ENV)
    for name in saved:
        del sys.modules[name]
    os.environ[INTERPRETED_ENV] = "1"
    try:
        loaded = {name: importlib.import_module(name) for name in names}
    finally:
        if before is None:
            del os.environ[INTERPRETED_ENV]
        else:
            os.environ[INTERPRETED_ENV] = before
        for name in [name for name in sys.modules if _belongs(name, packages)]:
            del sys.modules[name]
        sys.modules.update(saved)
        STATUS.clear()
        STATUS.update(status)
    for module in loaded.values():
        assert (module.__file__ or "").endswith(".py"), module.__file__
    return loaded
