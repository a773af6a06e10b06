"""What the live pipeline counts for its metrics: per input topic, and checkpoints rejected.

The live pipeline updates these plain counters; the collector reads them at scrape time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

# Rejections are logged under the checkpoints module's name, where they happen.
log = logging.getLogger("agents.live.checkpoints")

REJECT_REASONS = ("header", "digest", "content", "offset")

# The outcomes of an input message: the `outcome` label values of edc_messages_total.
OUTCOMES = ("valid", "invalid", "duplicate", "unknown_dashboard", "over_cardinality")


@dataclass(slots=True)
class TopicHealth:
    """Per input topic, counted by this process since it started."""

    outcomes: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    late: int = 0
    newest_event_us: int | None = None
    processing_delay_s: float | None = None
    lag: int = 0
    stuck_partitions: int = 0  # assigned partitions of the topic stuck (agents/live/stalls.py)
    idle_partitions: int = 0  # times one of its partitions was declared idle (agents/live/progress.py)

    def count(self, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n

    def saw_event(self, time_us: int) -> None:
        if self.newest_event_us is None or time_us > self.newest_event_us:
            self.newest_event_us = time_us


@dataclass(slots=True)
class CheckpointHealth:
    """Checkpoints rejected by reason, shard-topic records skipped as malformed, and items
    of readable records skipped for a topic index out of range."""

    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    skipped_shard_records: int = 0
    skipped_shard_items: int = 0
    # Event ids the engines of this process forgot early (max_event_ids): kept here, not
    # summed over the engines owned now, so the counter does not drop when a shard moves.
    evicted_event_ids: int = 0

    def reject(self, reason: str, where: str, why: str) -> None:
        self.rejected[reason] += 1
        log.warning("checkpoint %s rejected (%s): %s", where, reason, why)
