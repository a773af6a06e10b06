"""The replay's progress bar on stderr (tqdm): bytes read of the file, lines/s, ETA.

Shown only when stderr is a terminal and --quiet is not given; reading the topics
(no size known up front) it counts lines instead.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


class _Bar(tqdm):  # type: ignore[type-arg]
    # No monitor thread: the replay forks (its reader, its tables writer, its jobs), and it
    # forks only while it runs one thread (pipeline.forking_is_safe).
    monitor_interval = 0


class Progress:
    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self.enabled = enabled
        self.read = 0  # bytes, as last shown: the pipelined reader counts them in its process
        self._by_bytes = total_bytes > 0
        self._bar = _Bar(
            total=total_bytes if self._by_bytes else None,
            unit="B" if self._by_bytes else " lines",
            unit_scale=self._by_bytes,  # lines counted exactly
            file=sys.stderr,
            disable=not enabled,
            mininterval=0.5,
            leave=True,
        )

    def show(self, lines: int, read: int) -> None:
        """(lines, bytes) read so far."""
        self.read = read
        if not self.enabled:
            return
        bar = self._bar
        done = read if self._by_bytes else lines
        if self._by_bytes:
            bar.set_postfix_str(f"{lines:,} lines", refresh=False)
        if done > bar.n:
            bar.update(done - bar.n)

    def done(self, lines: int, read: int) -> None:
        self.show(lines, read)
        self._bar.close()
