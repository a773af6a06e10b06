"""What ``/readyz`` and ``/healthz`` answer, kept apart from the HTTP server that serves them.

* ready: every shard this worker owns is restored, the broker answered within
  ``broker_unreachable_after``, and no assigned input partition is stuck for
  ``partition_stall_after`` (agents/live/stalls.py) — route traffic / count this
  worker's figures.
* healthy: the process and its event loop are alive (the handler answering proves
  the loop runs), nothing fatal happened (a restore that gave up, a batch that
  cannot be decoded), and the metrics can be collected — restart the worker when not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Readiness:
    broker_unreachable_after_s: float
    clock: Callable[[], float] = time.monotonic
    # The last time the broker answered one of our own requests (probe, restore, checkpoint).
    last_broker_contact: float | None = None
    broker_error: str | None = None
    fatal: str | None = None

    def broker_answered(self) -> None:
        self.last_broker_contact = self.clock()
        self.broker_error = None

    def broker_failed(self, error: BaseException) -> None:
        # The error's class only: messages of some clients echo addresses and settings.
        self.broker_error = type(error).__name__

    def broker_reachable(self) -> bool:
        last = self.last_broker_contact
        return last is not None and self.clock() - last <= self.broker_unreachable_after_s

    def ready(
        self,
        unrestored: Iterable[int],
        stuck: Sequence[tuple[str, int]] = (),
        stuck_after_s: float = 0,
    ) -> tuple[bool, list[str]]:
        """Whether the worker is ready, and why not (one short reason each).

        ``stuck``: input partitions (topic, number) stuck for ``stuck_after_s`` or more.
        """
        reasons = []
        if self.fatal is not None:
            reasons.append(f"stopping: {self.fatal}")
        waiting = sorted(unrestored)
        if waiting:
            reasons.append(f"shards not restored yet: {waiting}")
        if self.last_broker_contact is None:
            reasons.append("broker not reached yet")
        elif not self.broker_reachable():
            reasons.append(
                f"broker unreachable for over {self.broker_unreachable_after_s:g}s"
                + (f" ({self.broker_error})" if self.broker_error else "")
            )
        if stuck:
            # Topic and partition number only: never an offset's content.
            named = ", ".join(f"{topic}[{partition}]" for topic, partition in stuck)
            reasons.append(f"input partitions stuck for {stuck_after_s:g}s or more: {named}")
        return not reasons, reasons

    def healthy(self, metrics_failure: str | None = None) -> tuple[bool, list[str]]:
        """``metrics_failure``: why the last collection of /metrics failed (None: it worked)."""
        reasons = []
        if self.fatal is not None:
            reasons.append(f"stopping: {self.fatal}")
        if metrics_failure is not None:
            reasons.append(metrics_failure)
        return not reasons, reasons
