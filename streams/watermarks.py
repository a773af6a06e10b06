"""The low watermark: how far event time has got on *every* input a shard engine receives from.

An engine fed by the live router (a shard) is told, with the events, each input
topic-partition's progress: the newest event time the router accepted from it,
and whether it is idle (no new data for ``input_idle_after``). The retention
horizon then follows the *minimum* over the inputs that are not idle, so a
partition read weeks behind the others (an integration that catches up after an
outage, partitions read in any interleaving) holds pruning back instead of
arriving late (docs/design.md, "Retention"). An input that has been assigned but
has given no event yet holds everything back until it does, or goes idle; so does
every partition of the input topics that no router has reported yet (routers say
how many partitions each input topic has): a shard that heard from one worker's
router only must not prune by that worker's partitions alone.

An engine that is never told (the replay, which keeps everything, and the tests of
one engine) follows its own newest event time, as before.
"""

from __future__ import annotations

from collections.abc import Iterable

InputKey = tuple[int, int]  # (input topic index, partition)
InputMark = tuple[int, int, int | None, bool]  # (topic index, partition, newest_us, idle)

HOLD_US = -(1 << 62)
"""The low watermark while an input has told nothing of its event time: nothing is pruned."""


class InputWatermarks:
    """Each input's newest event time (``None``: none yet) and whether it is idle."""

    __slots__ = ("idle", "newest", "partitions")

    def __init__(self) -> None:
        self.newest: dict[InputKey, int | None] = {}
        self.idle: dict[InputKey, bool] = {}
        self.partitions: list[int] = []  # partitions of each input topic, by topic index

    def note(self, marks: Iterable[InputMark], partitions: Iterable[int] = ()) -> None:
        """Progress as a router reported it. Newest times only move forward: a router that
        took a partition over from another may know less of it than its first owner did.
        ``partitions``: how many partitions each input topic has (they only grow)."""
        counts = list(partitions)
        known = self.partitions
        for topic_index, count in enumerate(counts):
            if topic_index >= len(known):
                known.append(count)
            elif count > known[topic_index]:
                known[topic_index] = count
        newest, idle = self.newest, self.idle
        for topic_index, partition, newest_us, is_idle in marks:
            key = (topic_index, partition)
            known = newest.get(key)
            if key not in newest or (
                newest_us is not None and (known is None or newest_us > known)
            ):
                newest[key] = newest_us
            idle[key] = bool(is_idle)

    def low(self) -> int | None:
        """The minimum newest time over inputs that are not idle; ``HOLD_US`` while one of
        them (or, before any report, the unknown set of inputs) has told nothing; ``None``
        when every known input is idle (the engine's own watermark then leads)."""
        if not self.newest:
            return HOLD_US
        for topic_index, count in enumerate(self.partitions):
            for partition in range(count):
                if (topic_index, partition) not in self.newest:
                    return HOLD_US  # not reported by any router yet
        low: int | None = None
        idle = self.idle
        for key, newest_us in self.newest.items():
            if idle[key]:
                continue
            if newest_us is None:
                return HOLD_US
            if low is None or newest_us < low:
                low = newest_us
        return low

    def high(self) -> int | None:
        """The newest event time any input has reported (None: none yet): how far the
        inputs together have got, which one engine fed by all of them would call its
        watermark."""
        return max((n for n in self.newest.values() if n is not None), default=None)

    def marks(self) -> list[InputMark]:
        """Every input's mark, sorted (what a checkpoint stores)."""
        return [(t, p, self.newest[(t, p)], self.idle[(t, p)]) for t, p in sorted(self.newest)]
