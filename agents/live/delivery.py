"""Sends that must reach the broker: retried until acknowledged, and the dead-letter record.

The router acks its input offsets only once ``deliver`` returns, so a worker stopped
while retrying re-reads the batch (the shards drop repeats by event id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faust.types.tuples import Message

from agents.live.tunables import SEND_RETRY_MAX_S

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[Any]]


async def deliver(sends: list[Send]) -> None:
    """Run every send until each is acknowledged by the broker; failed ones are retried."""
    pause = 0.1
    while sends:
        pending: list[Any] = []
        for send in sends:
            try:
                pending.append(await send())
            except Exception as error:  # refused before it left (e.g. too large)
                pending.append(error)
        results = await asyncio.gather(
            *(p for p in pending if not isinstance(p, Exception)), return_exceptions=True
        )
        outcomes = iter(results)
        failed = [
            (send, p if isinstance(p, Exception) else next(outcomes))
            for send, p in zip(sends, pending, strict=True)
        ]
        failed = [(send, r) for send, r in failed if isinstance(r, BaseException)]
        if not failed:
            return
        log.warning(
            "%d of %d sends failed (%s); retrying in %.1fs, their input stays uncommitted",
            len(failed),
            len(sends),
            " ".join(f"{type(failed[0][1]).__name__}: {failed[0][1]}".split())[:200],
            pause,
        )
        await asyncio.sleep(pause)
        pause = min(pause * 2, SEND_RETRY_MAX_S)
        sends = [send for send, _error in failed]


def dead_letter(
    message: Message, reason: str, limit: int
) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
    """(key, value, headers) of an invalid message's dead-letter record: the original bytes
    cut to ``limit``, its source topic/partition/offset and the reason in headers."""
    # The reason names a field, never a value: safe to log and to put in a header.
    log.warning(
        "invalid message %s[%d]@%d: %s",
        message.topic,
        message.partition,
        message.offset,
        reason,
    )
    value = message.value
    headers = [
        ("source_topic", message.topic.encode()),
        ("source_partition", str(message.partition).encode()),
        ("source_offset", str(message.offset).encode()),
        ("reason", reason.encode()),
    ]
    if value is not None and len(value) > limit:
        # Kept whole it could never be sent; its source offset still finds the original.
        headers.append(("truncated_from_bytes", str(len(value)).encode()))
        value = value[:limit]
    key = f"{message.topic}:{message.partition}:{message.offset}".encode()
    return key, value, headers
