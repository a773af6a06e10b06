"""streams/ imports in one direction: no module reaches back to one that imports it.

A cycle hides in imports placed inside functions, so every import statement counts,
wherever it stands (the engine and its state format once imported each other that way).
"""

from __future__ import annotations

import ast
from pathlib import Path

STREAMS = Path(__file__).resolve().parents[2] / "streams"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "streams":
                found.update(f"streams.{alias.name}" for alias in node.names)
            elif node.module.startswith("streams."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("streams."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"streams.{p.stem}": p for p in STREAMS.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & modules.keys() for name, path in modules.items()}


def test_streams_has_no_import_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, "import cycle: " + " → ".join((*path, module))
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_the_state_format_reads_only_the_engines_public_surface() -> None:
    source = (STREAMS / "state.py").read_text()
    assert "engine._" not in source
    assert "streams.engine" not in _imports(STREAMS / "state.py")
