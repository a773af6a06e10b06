"""Compressed record batches: what every reader decodes, and what a batch that cannot be decoded does.

aiokafka decodes gzip itself and snappy, lz4 and zstd with cramjam (declared as
aiokafka's extras in pyproject.toml). A batch that still cannot be decoded (an
unknown codec, corrupt data, a bad CRC) surfaces in aiokafka without its
position; ``name_undecodable_batches`` makes it name topic, partition and
offset, and lets the worker stop on it with one line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from agents.errors import UndecodableInput

CODECS = ("gzip", "snappy", "lz4", "zstd")


class UndecodableBatch(UndecodableInput):
    """A record batch no reader can decode: the input needs an operator, not a retry."""

    def __init__(self, topic: str, partition: int, offset: int, cause: BaseException) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        # The cause's class and message: aiokafka's messages name the codec or the CRC,
        # never record contents.
        self.cause = f"{type(cause).__name__}: {cause}".rstrip(": ")
        super().__init__(f"cannot decode the batch at {topic}[{partition}]@{offset}: {self.cause}")


_on_undecodable: Callable[[UndecodableBatch], None] | None = None


def name_undecodable_batches(
    on_undecodable: Callable[[UndecodableBatch], None] | None = None,
) -> None:
    """Wrap aiokafka's batch unpacking once per process; ``on_undecodable`` sees each failure first.

    The wrap sits where the partition and the next offset are still known
    (``PartitionRecords``), whichever client reads: Faust's consumer, the replay's,
    the export's.
    """
    global _on_undecodable
    if on_undecodable is not None:
        _on_undecodable = on_undecodable
    from aiokafka.consumer.fetcher import PartitionRecords

    original = PartitionRecords._unpack_records
    if getattr(original, "_edc_latency", False):
        return

    def unpack_records(self: Any) -> Iterator[Any]:
        try:
            yield from original(self)
        except Exception as error:
            failure = UndecodableBatch(
                self._tp.topic, self._tp.partition, self.next_fetch_offset, error
            )
            if _on_undecodable is not None:
                _on_undecodable(failure)
            raise failure from error

    unpack_records._edc_latency = True  # type: ignore[attr-defined]
    PartitionRecords._unpack_records = unpack_records
