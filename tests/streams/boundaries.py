"""Every boundary of the contract, stated once, the way docs/contract.md and docs/design.md say it.

The brute force (``brute_force.py``) and the boundary tests (``test_boundaries.py``) ask
these and nothing else: a rule written with ≤ or < is one line here, so it cannot be
written one way in the oracle and another way in a test.
"""

from __future__ import annotations

DAY = 86_400_000_000
AGING_LIMITS = (7 * DAY, 14 * DAY, 30 * DAY)  # `0-7d`, `8-14d`, `15-30d`, then `>30d`


def exists_as_of(time_us: int, as_of_us: int) -> bool:
    """An event exists as of T when its own time is ≤ T ("as of" includes T)."""
    return time_us <= as_of_us


def snapshot_covers(entered_us: int, cutoff_us: int) -> bool:
    """A snapshot covers the entries entered at or before its cutoff."""
    return entered_us <= cutoff_us


def record_publish_covers(entered_us: int, published_us: int) -> bool:
    """A record-level publish covers its records' entries entered at or before its time."""
    return entered_us <= published_us


def within_sla(latency_us: int, sla_us: int) -> bool:
    """``within_sla`` counts latencies ≤ SLA."""
    return latency_us <= sla_us


def overdue(entered_us: int, as_of_us: int, sla_us: int) -> bool:
    """A pending entry is overdue when it is older than the SLA: T − entered > SLA."""
    return as_of_us - entered_us > sla_us


def aging_bucket(age_us: int) -> int:
    """Index of an open query's aging bucket: ≤ 7, ≤ 14, ≤ 30 days, more."""
    for index, limit in enumerate(AGING_LIMITS):
        if age_us <= limit:
            return index
    return len(AGING_LIMITS)


def over_30_days(age_us: int) -> bool:
    """A scorecard's ``queries_over_30d``: open for more than 30 days."""
    return age_us > 30 * DAY


def in_window(time_us: int, start_us: int, end_us: int) -> bool:
    """A tumbling window holds [start, end): an instant on an edge opens the next window."""
    return start_us <= time_us < end_us


def window_complete(end_us: int, as_of_us: int) -> bool:
    """A window is complete once its end is ≤ T."""
    return end_us <= as_of_us


def late(time_us: int, watermark_us: int, retention_us: int) -> bool:
    """An event is late when its time is before the horizon H = W − retention."""
    return time_us < watermark_us - retention_us


# -- time to breach and publish schedules (issue 22) -------------------------------------


def breached(entered_us: int, as_of_us: int, sla_us: int) -> bool:
    """Breached as of T: the deadline (entered + SLA) lies before T. A deadline equal to T
    is not breached: a publish at T gives latency = SLA, within it (``within_sla``)."""
    return entered_us + sla_us < as_of_us


def time_left_bucket(entered_us: int, as_of_us: int, sla_us: int, edges_us: tuple[int, ...]) -> int:
    """0: breached; i: e₍ᵢ₋₁₎ ≤ time left < eᵢ (e₀ = 0); last: time left ≥ the last edge."""
    if breached(entered_us, as_of_us, sla_us):
        return 0
    left = entered_us + sla_us - as_of_us
    for index, edge in enumerate(edges_us):
        if left < edge:
            return index + 1
    return len(edges_us) + 1


def certain_breach(entered_us: int, as_of_us: int, sla_us: int, next_publish_us: int) -> bool:
    """Not breached yet, and a publish at the next expected one would be over the SLA."""
    return not breached(entered_us, as_of_us, sla_us) and entered_us + sla_us < next_publish_us


def slot_missed(due_us: int, as_of_us: int, grace_us: int) -> bool:
    """A slot is missed once its grace is over: due + grace < T (at = T it is not, yet)."""
    return due_us + grace_us < as_of_us


def slot_ahead(slot_us: int, last_publish_us: int, as_of_us: int) -> bool:
    """A slot the next publish may still be expected at as of T: after the last publish and
    after T (a slot at T whose publish has not come by T is behind: late, however short
    its grace; the grace decides only the miss)."""
    return slot_us > last_publish_us and slot_us > as_of_us


def run_start(instant_us: int, previous_us: int | None, min_gap_us: int) -> bool:
    """A publish starts a new run (for the learned cadence) when more than min_gap after the
    publish before it."""
    return previous_us is None or instant_us - previous_us > min_gap_us
def minute_judged_at(minute: int, minute_us: int) -> int:
    """A minute of uptime [m·60 s, (m+1)·60 s) is judged as of its last microsecond."""
    return (minute + 1) * minute_us - 1


def fresh(freshness_us: int, threshold_us: int) -> bool:
    """A freshness signal is within its threshold when freshness ≤ threshold (equal is good)."""
    return freshness_us <= threshold_us


def input_reached(judged_at_us: int, clock_us: int | None) -> bool:
    """A minute has input when the input clock (newest event time) is at or after the
    instant it is judged at; otherwise it is unknown."""
    return clock_us is not None and judged_at_us <= clock_us
