"""``replay --jobs N``: entries.csv and queries.csv put back together from the jobs' files.

Each job leaves its tables in the work directory (``leave_tables``): its entries.csv
rows (``entries-S.csv``, written by ``tables.py``), the ordinal among valid lines of
each of its accepted entry events with the offset after its rows (int64 files), and
its queries.csv rows with their order. Once every job has said so, a forked child
(``pipeline.TablesWriter``) merges them into the outputs (``write_tables``) while the
main process receives the jobs' parts and writes the report: the tables were ~0.35 s
of the main process's ~1.35 s alone after the jobs at 1M lines, with a core idle.
The answers carry only the parts (``parallel.ShardAnswer``), not the tables: 35% fewer
bytes through the pipes, unpickled by nobody on the way to the report.
"""

from __future__ import annotations

import heapq
import pickle
from array import array
from pathlib import Path
from typing import Any

from agents.audit.replay.tables import ENTRIES_HEADER, QUERIES_HEADER


def leave_tables(
    workdir: Path,
    shard: int,
    entry_order: array[int],
    entry_ends: array[int],
    queries: list[tuple[tuple[str, str], str]],
) -> None:
    """A job's part of the tables beside its entries.csv rows, for ``write_tables``."""
    (workdir / f"entry-order-{shard}").write_bytes(entry_order.tobytes())
    (workdir / f"entry-ends-{shard}").write_bytes(entry_ends.tobytes())
    # Between processes of one run (as multiprocessing itself sends objects): never kept.
    (workdir / f"queries-{shard}").write_bytes(pickle.dumps(queries, pickle.HIGHEST_PROTOCOL))


def write_tables(out: Path, workdir: Path, shards: int) -> dict[str, bytes]:
    """entries.csv and queries.csv of ``shards`` jobs' tables, written into ``out``.

    Written here rather than answered (``TablesWriter`` writes what is answered):
    entries.csv is streamed from the jobs' files, never held whole."""
    write_entries_csv(
        out / "entries.csv",
        [workdir / f"entries-{shard}.csv" for shard in range(shards)],
        [_int64s(workdir / f"entry-order-{shard}") for shard in range(shards)],
        [_int64s(workdir / f"entry-ends-{shard}") for shard in range(shards)],
    )
    write_queries_csv(
        out / "queries.csv",
        [pickle.loads((workdir / f"queries-{shard}").read_bytes()) for shard in range(shards)],
    )
    return {}


def _int64s(path: Path) -> array[int]:
    values = array("q")
    values.frombytes(path.read_bytes())
    return values


def write_entries_csv(
    target: Path, bodies: list[Path], orders: list[array[int]], ends: list[array[int]]
) -> None:
    """Each shard's rows (``bodies[s]``), put back in file order of their entry events.

    ``orders[s]``: the ordinal among valid lines of each of shard s's entry events, in
    its order; ``ends[s]``: the offset in its body after each one's rows. The bodies are
    read sequentially, each event's rows at a time: never a whole file in memory.
    """
    # The shard of each valid line's entry event, by its ordinal among valid lines (255: none).
    last = max((order[-1] for order in orders if order), default=-1)
    owners = bytearray(b"\xff") * (last + 1)
    for shard, order in enumerate(orders):
        for ordinal in order:
            owners[ordinal] = shard
    handles = [body.open("rb") for body in bodies]
    try:
        reads = [handle.read for handle in handles]
        after = [iter(shard_ends) for shard_ends in ends]
        starts = [0] * len(bodies)
        with target.open("wb") as handle:
            write = handle.write
            write(ENTRIES_HEADER)
            for shard in owners.replace(b"\xff", b""):
                end = next(after[shard])
                write(reads[shard](end - starts[shard]))
                starts[shard] = end
    finally:
        for handle in handles:
            handle.close()


def write_queries_csv(target: Path, shards: list[list[tuple[tuple[str, str], Any]]]) -> None:
    """queries.csv from each shard's rows, ascending by (study, query id) in each."""
    merged = heapq.merge(*shards, key=lambda item: item[0])
    target.write_bytes(QUERIES_HEADER + "".join(line for _key, line in merged).encode())
