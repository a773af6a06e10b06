"""The replay's progress bar on stderr."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress bar on stderr: events/s and ETA (from bytes read of the file size)."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self.total = total_bytes
        self.enabled = enabled
        self.started = time.monotonic()
        self.last = 0.0
        self.read = 0  # bytes, as last shown: the pipelined reader counts them in its process

    def show(self, lines: int, read: int) -> None:
        self.read = read
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.5:
            return
        self.last = now
        elapsed = now - self.started
        rate = lines / elapsed if elapsed else 0
        if self.total:
            share = read / self.total
            eta = elapsed * (1 - share) / share if share else 0
            bar = "#" * int(30 * share)
            text = f"[{bar:<30}] {100 * share:5.1f}%  {rate:,.0f} lines/s  ETA {eta:,.0f}s"
        else:
            text = f"{lines:,} lines  {rate:,.0f} lines/s"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()

    def done(self, lines: int, read: int) -> None:
        if self.enabled:
            self.last = 0.0
            self.show(lines, read)
            sys.stderr.write("\n")
