"""The router's decisions, without Kafka: message values in, shard messages and dead letters out.

For each input value, in order: the bounds of ``schemas/limits.py`` (size, event
time against the message's Kafka timestamp, never later than the wall clock), parsing, the cardinality caps (``agents/metrics/cardinality.py``), then the
shard items of ``agents/live/sharding.py``. Shard messages are cut by bytes as well as
by count, so none exceeds ``max_message_bytes``; an input whose item alone would
(only near the limit: an item re-encodes the validated event, which may come out
longer than a compactly written input) is dead-lettered whole, never
half-routed. ``tests/agents/live/test_routing.py`` drives this with hostile input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agents.live.sharding import routed_items
from agents.metrics.cardinality import CardinalityGate
from schemas import Event, PublishEvent, Rejection
from schemas.limits import live_bound, parse_bounded, skew_us
from streams.engine import group_key

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
    ) -> None:
        self.shards = shards
        self.max_message_bytes = max_message_bytes
        self.allowed_skew_us = skew_us(max_future_skew_s)
        self.gate = gate
        self.breakdown = breakdown

    def route(
        self,
        values: Sequence[tuple[int, bytes | None]],
        wall_us: int,
        timestamps_ms: Sequence[int | None] | None = None,
    ) -> RoutedBatch:
        """``values``: (input topic index, message value) in consumption order;
        ``timestamps_ms``: each message's Kafka timestamp (None: judged by the wall clock)."""
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
            parsed = parse_bounded(value, budget, bound, against)
            if parsed.__class__ is Rejection:
                dead_letters.append((index, parsed.reason))  # type: ignore[union-attr]
                continue
            event: Event = parsed  # type: ignore[assignment]
            if not admits(event.study_id, self._group(event)):
                self.gate.over += 1
                out.over_cardinality.append(index)
                dead_letters.append((index, self.gate.refuse_reason(event.study_id)))
                continue
            routed = routed_items(event, topic_index, shards)
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
        for shard in range(shards):
            if buffers[shard].parts:
                flushed[shard].append(buffers[shard].message())
            out.shard_messages.extend((shard, payload) for payload in flushed[shard])
        return out

    def _group(self, event: Event) -> tuple[str, ...] | None:
        if not self.breakdown or event.__class__ is PublishEvent:
            return None
        return group_key(event, self.breakdown)  # type: ignore[arg-type]
