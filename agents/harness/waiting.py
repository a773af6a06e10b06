"""Waiting for a condition, the one way the demo, the benchmarks and the tests wait.

A fixed sleep is either too short on a loaded machine or time thrown away on an idle one;
a wait asks the condition itself until it holds. The first looks come quickly (most
conditions hold within a few tens of milliseconds), later ones every ``EVERY_MAX_S``, so
a long wait costs the thing it asks (a scrape, a probe) little.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

EVERY_MIN_S = 0.02  # the first look after the first: most conditions hold this soon
EVERY_MAX_S = 0.5  # the slowest pace: a scrape or a probe twice a second at most


def _pauses(timeout_s: float, every_max_s: float) -> Iterator[float]:
    """The pause before each next look, doubling up to ``every_max_s``, until the deadline."""
    deadline = time.monotonic() + timeout_s
    pause = min(every_max_s, EVERY_MIN_S)
    while (left := deadline - time.monotonic()) > 0:
        yield min(pause, left)
        pause = min(every_max_s, pause * 2)


def _look(check: Callable[[], T], ignoring: tuple[type[BaseException], ...]) -> T | None:
    try:
        return check()
    except ignoring:
        return None


def wait_for(
    check: Callable[[], T],
    timeout_s: float,
    *,
    every_max_s: float = EVERY_MAX_S,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T | None:
    """``check()`` until it returns something true, which is returned; after ``timeout_s``,
    its last answer (false, or None if it raised one of ``ignoring``: a server not up yet).
    The caller asserts on what it gets, with its own message."""
    result = _look(check, ignoring)
    for pause in _pauses(timeout_s, every_max_s):
        if result:
            break
        time.sleep(pause)
        result = _look(check, ignoring)
    return result


async def wait_for_async(
    check: Callable[[], T], timeout_s: float, *, every_max_s: float = EVERY_MAX_S
) -> T:
    """``wait_for`` on an event loop: the loop goes on between looks."""
    result = check()
    for pause in _pauses(timeout_s, every_max_s):
        if result:
            break
        await asyncio.sleep(pause)
        result = check()
    return result


def settled(
    read: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float,
    *,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T | None:
    """``read()`` until ``done`` holds for what it read, or ``timeout_s`` passes: the last
    value read either way (None if every read raised one of ``ignoring``), for the caller to
    assert on (a scrape of figures until they equal the engine's, say)."""
    last: list[T] = []

    def check() -> bool:
        last[:] = [read()]
        return done(last[0])

    wait_for(check, timeout_s, ignoring=ignoring)
    return last[0] if last else None
