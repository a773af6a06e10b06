"""When a worker writes its shards' checkpoints: on the timer, and a final one, bounded in
time, when it hands shards over or stops (the format: agents/live/checkpoints.py)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from agents.live.shard_engines import ShardStore
from agents.live.tunables import CHECKPOINT_REQUEST_BYTES

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CheckpointWriter:
    store: ShardStore
    client_options: dict[str, Any]
    compression_type: str | None
    session_timeout_s: float
    _producer: AIOKafkaProducer | None = None

    async def checkpoint(self) -> int:
        """Checkpoint the shards changed since their last one; how many were written."""
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                **self.client_options,
                max_request_size=CHECKPOINT_REQUEST_BYTES,
                compression_type=self.compression_type,
            )
            await self._producer.start()
        written = await self.store.checkpoint(self._producer)
        if written:
            log.info("checkpointed %d shard(s)", written)
        return written

    async def final(self, why: str) -> None:
        # Bounded: a broker that is gone must not hold up a rebalance or a stop past the
        # session timeout; the shard topic still has everything a checkpoint would save.
        try:
            written = await asyncio.wait_for(self.checkpoint(), self.session_timeout_s / 2)
        except Exception as error:
            log.warning("%s: final checkpoint not written (%s)", why, type(error).__name__)
        else:
            log.warning("%s: final checkpoint of %d changed shard(s) written", why, written)

    async def close(self) -> None:
        """Stop the producer once the final checkpoint is written. Left running, it held the
        worker's exit up by a second: at exit the loop waits up to 1 s for every task still
        running (this producer's sender and connection) before it cancels them (mode's
        Worker._gather_all). Bounded as the final checkpoint is: the broker may be gone."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await asyncio.wait_for(producer.stop(), self.session_timeout_s / 4)
        except Exception as error:
            log.warning("checkpoint producer not stopped (%s)", type(error).__name__)
