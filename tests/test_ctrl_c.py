"""Ctrl-C in the test run (tests/ctrl_c.py): the programs tests interrupt get it at its
default however the run was started, and a test that leaves it ignored or blocked fails.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from tests.ctrl_c import as_a_terminal_starts_it

pytest_plugins = ("pytester",)

# What a program finds at its start: Python installs its Ctrl-C handler only over the
# default disposition (an inherited SIG_IGN stays), and the signals it starts blocked.
SEES = (
    "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
    " sorted(map(int, signal.pthread_sigmask(signal.SIG_BLOCK, ()))))"
)


@contextmanager
def _ctrl_c(handler: Any, mask_how: int) -> Iterator[None]:
    """SIGINT in this process set to ``handler`` and blocked or unblocked, then restored."""
    disposition = signal.getsignal(signal.SIGINT)
    mask = signal.pthread_sigmask(mask_how, {signal.SIGINT})
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, disposition)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _ctrl_c_ignored_and_blocked() -> AbstractContextManager[None]:
    """This process as a test run started with ``&`` by a script, its thread masking SIGINT."""
    return _ctrl_c(signal.SIG_IGN, signal.SIG_BLOCK)


def _ctrl_c_at_its_default() -> AbstractContextManager[None]:
    """This process as a test run started from a terminal, whatever started it."""
    return _ctrl_c(signal.default_int_handler, signal.SIG_UNBLOCK)


def _what_a_program_sees(**popen: object) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SEES], capture_output=True, text=True, timeout=60, **popen
    )  # type: ignore[call-overload]
    assert done.returncode == 0, done.stderr
    return str(done.stdout.strip())


def test_a_program_a_test_interrupts_starts_with_ctrl_c_at_its_default_however_the_run_began():
    with _ctrl_c_ignored_and_blocked():
        inherited = _what_a_program_sees()
        as_from_a_terminal = _what_a_program_sees(preexec_fn=as_a_terminal_starts_it)
    assert inherited == f"False [{int(signal.SIGINT)}]"  # what the failing runs' programs got
    assert as_from_a_terminal == "True []"


LEAKS = {
    "ignored": "signal.signal(signal.SIGINT, signal.SIG_IGN)",
    "blocked": "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})",
}


@pytest.mark.parametrize(("how", "reported"), [
    ("ignored", "SIGINT ignored (SIG_IGN)"),
    ("blocked", "SIGINT blocked (pthread_sigmask)"),
])
def test_a_test_that_leaves_ctrl_c_ignored_or_blocked_fails_and_the_next_one_does_not(
    pytester: pytest.Pytester, how: str, reported: str
):
    pytester.makeconftest("from tests.conftest import _signals_left_as_found  # noqa: F401\n")
    pytester.makepyfile(
        test_leak=f"""
        import signal

        def test_leaves_ctrl_c_{how}():
            {LEAKS[how]}

        def test_after_it():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, ())
        """
    )
    with _ctrl_c_at_its_default():
        result = pytester.runpytest(
            "-p", "no:randomly", "-p", "no:cacheprovider",
            "-o", "asyncio_default_fixture_loop_scope=function",
        )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines([
        f"*ERROR at teardown of test_leaves_ctrl_c_{how}*",
        f"*this test left {reported} in its pytest process*",
    ])
