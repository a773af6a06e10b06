"""What the live pipeline counts per input topic, read by the metrics collector at scrape time."""

from __future__ import annotations

from dataclasses import dataclass, field

# The outcomes of an input message, one label value each of edc_events_total.
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

    def count(self, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n

    def saw_event(self, time_us: int) -> None:
        if self.newest_event_us is None or time_us > self.newest_event_us:
            self.newest_event_us = time_us
