"""Ctrl-C and the programs tests start: at its default in each, and never left changed.

A program inherits an ignored disposition and its blocked signals across fork and
exec. A shell without job control (a script, a CI step) starts a command run with
``&`` with SIGINT and SIGQUIT ignored (POSIX: a background command is immune to the
keyboard's interrupt), and Python keeps an inherited SIG_IGN for SIGINT: a test run
started that way passes SIGINT ignored to its pytest-xdist workers and to every
program its tests start. Two fresh clones whose ``.ci/run`` was started in the
background failed test_130_interrupted and the demo's SIGINT test that way (the
program ran on after the SIGINT); the same run in the foreground passed.

An interactive shell starts a foreground program with Ctrl-C at its default and
nothing blocked: a test that sends SIGINT starts its program the same way
(``as_a_terminal_starts_it``), whatever started the run. And a test that leaves a
signal the tests send ignored or blocked in its pytest process would pass that on to
the programs of the tests after it: tests/conftest.py fails it (``left_changed``).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

# The signals tests send to the programs they start (Ctrl-C, a stop, a hang-up).
SENT_BY_TESTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def as_a_terminal_starts_it() -> None:
    """A ``preexec_fn``: SIGINT and SIGQUIT at their default and no signal blocked.

    It runs in the child between fork and exec, so the program starts the way an
    interactive shell starts a foreground one, whatever this process inherited.
    """
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


@dataclass(frozen=True, slots=True)
class SignalState:
    """The dispositions of ``SENT_BY_TESTS`` and the signals the calling thread blocks."""

    dispositions: dict[signal.Signals, object]
    blocked: frozenset[int]

    @classmethod
    def now(cls) -> SignalState:
        return cls(
            {sig: signal.getsignal(sig) for sig in SENT_BY_TESTS},
            frozenset(signal.pthread_sigmask(signal.SIG_BLOCK, ())),
        )


def left_changed(before: SignalState) -> str | None:
    """The signals a test left ignored or blocked since ``before``, restored; None if none.

    Only a change matters: a run started with SIGINT ignored (see above) starts every
    test with it ignored, and that is the run's choice, not the test's.
    """
    now = SignalState.now()
    left = []
    for sig in SENT_BY_TESTS:
        if now.dispositions[sig] is signal.SIG_IGN and before.dispositions[sig] is not signal.SIG_IGN:
            # None: a handler set outside Python, which the test found in place.
            previous = before.dispositions[sig]
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)  # type: ignore[arg-type]
            left.append(f"{sig.name} ignored (SIG_IGN)")
    newly_blocked = sorted(set(SENT_BY_TESTS) & (now.blocked - before.blocked))
    if newly_blocked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, newly_blocked)
        left.extend(f"{signal.Signals(sig).name} blocked (pthread_sigmask)" for sig in newly_blocked)
    if not left:
        return None
    return (
        f"this test left {', '.join(left)} in its pytest process: every program the next "
        "tests start would inherit it (restored now)"
    )
