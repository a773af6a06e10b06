"""Loaded into every pytest run of ``make mutation`` (``-p mutation.pytest_plugin``)."""

from __future__ import annotations

import os

import pytest
from _pytest.nodes import Node
from hypothesis import Phase, settings

# mutmut 3.7 reads ``item._nodeid``, which pytest 9 no longer has. mutmut 3.8 reads
# ``nodeid`` but needs click >= 8.4.2, and faust-streaming < 0.16 needs click < 8.4.
if not hasattr(Node, "_nodeid"):
    Node._nodeid = property(lambda node: node.nodeid)  # type: ignore[attr-defined]

# Each mutant runs the tests that reach it until one fails; one that no test kills runs
# them all. The property tests ask for 150 to 2,000 examples each, which is what makes a
# full run hours long. Under mutation each draws at most MUTATION_EXAMPLES (the make target
# sets it): the boundaries are held by the explicit boundary tests and by the coarse grid of
# the strategies, whose first examples already land on equal instants.
EXAMPLES = int(os.environ.get("MUTATION_EXAMPLES", "25"))

# The same examples on every run: a mutant's verdict does not depend on the draw, and
# nothing is written to a hypothesis database inside the copy. No deadline: the machine
# is shared and a mutant may be slow without being wrong (mutmut's own timeout judges that).
# No shrinking: a mutant is killed by the first failing example; shrinking it (hundreds of
# runs more) would only make the failure readable, and nobody reads it.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
UNDER_MUTATION = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "phases": PHASES,
    "report_multiple_bugs": False,
}
settings.register_profile("mutation", max_examples=EXAMPLES, **UNDER_MUTATION)
settings.load_profile("mutation")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test's own ``@settings(…)`` wins over a profile: cap and strip it here."""
    for item in items:
        test = getattr(item, "obj", None)
        test = getattr(test, "__func__", test)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None:
            test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
                own, max_examples=min(own.max_examples, EXAMPLES), **UNDER_MUTATION
            )
