"""Loaded into every pytest run of ``make mutation`` (``-p mutation.pytest_plugin``)."""

from __future__ import annotations

from _pytest.nodes import Node
from hypothesis import settings

# mutmut 3.7 reads ``item._nodeid``, which pytest 9 no longer has. mutmut 3.8 reads
# ``nodeid`` but needs click >= 8.4.2, and faust-streaming < 0.16 needs click < 8.4.
if not hasattr(Node, "_nodeid"):
    Node._nodeid = property(lambda node: node.nodeid)  # type: ignore[attr-defined]

# The same examples on every run: a mutant's verdict does not depend on the draw, and
# nothing is written to a hypothesis database inside the copy.
settings.register_profile("mutation", derandomize=True, database=None, deadline=None)
settings.load_profile("mutation")
