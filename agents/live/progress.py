"""What the router knows of each input topic-partition it reads: the shards' low watermark.

For every input partition assigned to this worker's router: the newest event time
it accepted from it (None until one), when a message last came from it (wall
clock), and whether it is idle: no message for ``input_idle_after``. The router
writes these marks as the last item of its shard messages, and to every shard on
a timer (``agents/live/shard_wire.py``, item kind 4); each shard engine's retention
horizon follows the minimum over the inputs that are not idle
(``streams/watermarks.py``). An input that goes idle is logged and counted
(``edc_input_partitions_idle_total``); one that speaks again holds the watermark
again from its newest time.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.watermarks import InputKey, InputMark


@dataclass(slots=True)
class _Partition:
    newest_us: int | None
    last_message_us: int  # wall clock
    idle: bool = False


class InputProgress:
    def __init__(self, idle_after_us: int) -> None:
        self.idle_after_us = idle_after_us
        self.partitions: dict[InputKey, _Partition] = {}
        self.known = False  # nothing is reported before the first assignment is known
        self.partition_counts: list[int] = []  # of each input topic, when known

    def assigned(
        self, keys: set[InputKey], wall_us: int, partition_counts: list[int] | None = None
    ) -> None:
        """The router's new assignment: new partitions hold the watermark until they speak
        or go idle; partitions no longer ours are reported by their new owner.
        ``partition_counts``: how many partitions each input topic has, so that a shard
        holds back for partitions another worker's router has not reported yet."""
        self.known = True
        if partition_counts:
            self.partition_counts = list(partition_counts)
        for key in [k for k in self.partitions if k not in keys]:
            del self.partitions[key]
        for key in keys:
            if key not in self.partitions:
                self.partitions[key] = _Partition(None, wall_us)

    def saw(self, key: InputKey, time_us: int | None, wall_us: int) -> None:
        """A message from ``key`` (``time_us``: its event time when it was valid)."""
        state = self.partitions.get(key)
        if state is None:  # a message before the assignment callback: ours all the same
            state = self.partitions[key] = _Partition(None, wall_us)
        state.last_message_us = wall_us
        state.idle = False
        if time_us is not None and (state.newest_us is None or time_us > state.newest_us):
            state.newest_us = time_us

    def newly_idle(self, wall_us: int) -> list[InputKey]:
        """Partitions silent for ``idle_after`` since their last message, now marked idle."""
        out = []
        for key, state in sorted(self.partitions.items()):
            if not state.idle and wall_us - state.last_message_us >= self.idle_after_us:
                state.idle = True
                out.append(key)
        return out

    def marks(self) -> list[InputMark]:
        if not self.known:
            return []
        return [(t, p, s.newest_us, s.idle) for (t, p), s in sorted(self.partitions.items())]
