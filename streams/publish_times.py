"""A dashboard's distinct publish instants, ascending and bounded (DashboardLedger.publish_times)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right


def note_publish_time(publishes_us: list[int], published_us: int, cap: int | None) -> None:
    """File a publish that is not the newest (an older or repeated instant arrived late).

    Kept: the newest ``cap`` distinct instants (all when cap is None), so the list holds
    the same values whatever order the publishes arrived in.
    """
    i = bisect_left(publishes_us, published_us)
    if i < len(publishes_us) and publishes_us[i] == published_us:
        return
    if cap is not None and len(publishes_us) >= cap:
        if i == 0:
            return  # older than every instant kept: it would be dropped at once
        publishes_us.insert(i, published_us)
        del publishes_us[0]
        return
    publishes_us.insert(i, published_us)


def publishes_as_of(publishes_us: list[int], as_of_us: int) -> list[int]:
    """The ascending publish instants at or before T."""
    return publishes_us[: bisect_right(publishes_us, as_of_us)]
