"""The router's decisions, without Kafka: message values in, shard messages and dead letters out.

For each input value, in order: the bounds of ``schemas/limits.py`` (size, event
time against the message's Kafka timestamp, never later than the wall clock),
parsing, the cardinality caps (``agents/metrics/cardinality.py``), then the shard
items of ``agents/live/shard_wire.py``. Shard messages are cut by bytes as well as by
count, so none exceeds ``max_message_bytes``; an input whose item alone would
(only near the limit: an item re-encodes the validated event, which may come out
longer than a compactly written input) is dead-lettered whole, never
half-routed. Each shard message ends with the progress of the router's inputs
(``agents/live/progress.py``). ``tests/agents/live/test_routing.py`` drives this
with hostile input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agents.live.progress import InputProgress
from agents.live.shard_wire import encode_batch, encode_progress, routed_items
from agents.metrics.cardinality import CardinalityGate
from schemas import Event, PublishEvent, Rejection, StageEvent
from schemas.limits import live_bound, parse_bounded, skew_us
from schemas.parse import unreadable
from streams.engine import group_key
from streams.watermarks import InputMark

# "[" + items joined by "," + "]": a JSON array of encoded items (sharding.encode_batch).
_FRAMING = 2


@dataclass(slots=True)
class RoutedBatch:
    shard_messages: list[tuple[int, bytes]] = field(default_factory=list)  # in send order
    dead_letters: list[tuple[int, str]] = field(default_factory=list)  # (input index, reason)
    over_cardinality: list[int] = field(default_factory=list)  # input indexes, also dead letters
    valid: int = 0


def _too_large(size: int) -> str:
    return f"too large for the shard topic: {size} bytes once encoded"


class _ShardBuffer:
    """Encoded items of one shard, flushed into messages of at most ``budget`` bytes."""

    __slots__ = ("budget", "parts", "size")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.parts: list[bytes] = []
        self.size = _FRAMING

    def add(self, item: bytes, flush: list[bytes]) -> None:
        separator = 1 if self.parts else 0
        if self.parts and self.size + separator + len(item) > self.budget:
            flush.append(self.message())
            separator = 0
        self.parts.append(item)
        self.size += separator + len(item)

    def message(self) -> bytes:
        payload = b"[" + b",".join(self.parts) + b"]"
        self.parts = []
        self.size = _FRAMING
        return payload


class Router:
    def __init__(
        self,
        shards: int,
        max_message_bytes: int,
        max_future_skew_s: float | None,
        gate: CardinalityGate,
        breakdown: tuple[str, ...],
        input_idle_after_s: float = 300.0,
        stage_problem: Callable[[StageEvent], str | None] = lambda _event: None,
    ) -> None:
        self.shards = shards
        self.max_message_bytes = max_message_bytes
        self.allowed_skew_us = skew_us(max_future_skew_s)
        self.gate = gate
        self.breakdown = breakdown
        self.progress = InputProgress(round(input_idle_after_s * 1_000_000))
        # A stage event naming no configured stage is dead-lettered here, before any shard
        # (streams/stages.py, ``stage_problem``).
        self.stage_problem = stage_problem

    def route(
        self,
        values: Sequence[tuple[int, bytes | None]],
        wall_us: int,
        timestamps_ms: Sequence[int | None] | None = None,
        partitions: Sequence[int] | None = None,
    ) -> RoutedBatch:
        """``values``: (input topic index, message value) in consumption order;
        ``timestamps_ms``: each message's Kafka timestamp (None: judged by the wall clock);
        ``partitions``: each message's input partition, for the progress the shards get
        (None: no progress is tracked, as in tests of the routing alone)."""
        saw = None if partitions is None else self.progress.saw
        out = RoutedBatch()
        shards = self.shards
        budget = self.max_message_bytes
        allowed = self.allowed_skew_us
        admits = self.gate.admits
        dead_letters = out.dead_letters
        buffers = [_ShardBuffer(budget) for _ in range(shards)]
        flushed: list[list[bytes]] = [[] for _ in range(shards)]
        # The router runs this once per input message: locals instead of attribute look-ups,
        # and an entry or query (one item) without the list and max() a split publish needs.
        for index, (topic_index, value) in enumerate(values):
            bound, against = live_bound(
                None if timestamps_ms is None else timestamps_ms[index], wall_us, allowed
            )
            try:
                parsed = parse_bounded(value, budget, bound, against)
                if parsed.__class__ is Rejection:
                    dead_letters.append((index, parsed.reason))  # type: ignore[union-attr]
                    if saw is not None:
                        saw((topic_index, partitions[index]), None, wall_us)  # type: ignore[index]
                    continue
                event: Event = parsed  # type: ignore[assignment]
                if saw is not None:
                    # Before the caps: a refused event still shows how far its input has got.
                    saw((topic_index, partitions[index]), event.time_us, wall_us)  # type: ignore[index]
                if event.__class__ is StageEvent:
                    problem = self.stage_problem(event)  # type: ignore[arg-type]
                    if problem is not None:
                        dead_letters.append((index, problem))
                        continue
                if not admits(event.study_id, self._group(event)):
                    self.gate.over += 1
                    out.over_cardinality.append(index)
                    dead_letters.append((index, self.gate.refuse_reason(event.study_id)))
                    continue
                routed = routed_items(event, topic_index, shards)
            except Exception as error:
                # Whatever one message makes fail is that message's dead letter: a batch
                # that raised would be re-read, and fail, forever (a stalled partition).
                dead_letters.append((index, unreadable(error).reason))
                continue
            if len(routed) == 1:
                shard, encoded = routed[0]  # items come encoded (sharding.encode)
                if len(encoded) + _FRAMING > budget:
                    dead_letters.append((index, _too_large(len(encoded))))
                    continue
                buffers[shard].add(encoded, flushed[shard])
            else:
                items = routed
                largest = max(len(item) for _s, item in items)
                if largest + _FRAMING > budget:
                    dead_letters.append((index, _too_large(largest)))
                    continue
                for shard, item in items:
                    buffers[shard].add(item, flushed[shard])
            out.valid += 1
        marks = self.progress.marks() if saw is not None else []
        progress = encode_progress(marks, self.progress.partition_counts) if marks else None
        for shard in range(shards):
            if buffers[shard].parts:
                if progress is not None:  # the last item: after every event it covers
                    buffers[shard].add(progress, flushed[shard])
                flushed[shard].append(buffers[shard].message())
            out.shard_messages.extend((shard, payload) for payload in flushed[shard])
        return out

    def progress_round(self, wall_us: int) -> tuple[list[InputMark], list[tuple[int, bytes]]]:
        """(inputs gone idle now, a progress message for every shard): the router's timer.

        Every shard hears of every input even when no event of it comes its way, and an
        idle input stops holding the watermark back without waiting for new data.
        """
        idle = self.progress.newly_idle(wall_us)
        marks = self.progress.marks()
        if not marks:
            return [], []
        payload = encode_batch([encode_progress(marks, self.progress.partition_counts)])
        gone = [mark for mark in marks if (mark[0], mark[1]) in set(idle)]
        return gone, [(shard, payload) for shard in range(self.shards)]

    def _group(self, event: Event) -> tuple[str, ...] | None:
        if not self.breakdown or event.__class__ in (PublishEvent, StageEvent):
            return None
        return group_key(event, self.breakdown)  # type: ignore[arg-type]
