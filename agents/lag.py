"""Consumer lag from the high-water marks the worker's own consumer already knows.

Every fetch response carries its partition's high-water mark, and Faust's
consumer keeps the latest (``Consumer.highwater``): reading it costs no request
and no client of our own. Only the partitions assigned to this worker now are
counted, so after a rebalance the lag of a partition is reported by its new
owner alone.

Measured on the embedded broker (Tansu): after 1,000 batched, compressed
messages the fetch responses' mark was 1000 while ListOffsets (``end_offsets``,
which the worker used to ask a new consumer every 5 s) said 889.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping


def lag_by_topic(
    topics: Iterable[str],
    last_offsets: Mapping[tuple[str, int], int],
    assigned: Collection[tuple[str, int]],
    highwater: Callable[[str, int], int | None],
) -> dict[str, int]:
    """Messages after the last routed offset, per topic, over the assigned partitions.

    ``highwater`` is None for a partition not fetched yet; such a partition counts 0.
    """
    lag = dict.fromkeys(topics, 0)
    for (topic, partition), offset in list(last_offsets.items()):
        if (topic, partition) not in assigned or topic not in lag:
            continue
        try:
            end = highwater(topic, partition)
        except AssertionError:  # aiokafka: revoked since the assignment was read
            continue
        if end is not None:
            # The mark is the next offset to be written. Clamped at zero: a mark is never
            # trusted to be ahead of what was read (agents/broker.py on Tansu's offsets).
            lag[topic] += max(0, end - offset - 1)
    return lag
