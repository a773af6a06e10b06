"""Consumer lag from the high-water marks a running consumer learnt from its fetches."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agents.kafka.topics import ensure_topics
from agents.live.lag import lag_by_topic


async def test_lag_is_what_the_consumer_has_not_read_over_its_assigned_partitions(
    kafka_bootstrap: str,
):
    topic, other = f"lag-{uuid.uuid4().hex[:8]}", f"lag-other-{uuid.uuid4().hex[:8]}"
    await ensure_topics({"bootstrap_servers": kafka_bootstrap}, {topic: 2, other: 1})
    # Like a sponsor's producer: compressed batches, keys spread over the partitions.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, linger_ms=20, compression_type="gzip"
    )
    await producer.start()
    try:
        sends = [await producer.send(topic, b"v" * 50, key=b"%d" % i) for i in range(600)]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    partitions = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        last_offsets: dict[tuple[str, int], int] = {}
        read = 0
        for tp in partitions:  # read a part of each, as a worker still catching up has
            while last_offsets.get((tp.topic, tp.partition), -1) < 39:
                batches = await consumer.getmany(tp, timeout_ms=5000, max_records=20)
                assert batches, "nothing fetched"
                records = batches[tp]
                last_offsets[(tp.topic, tp.partition)] = records[-1].offset
                read += len(records)
        last_offsets[(other, 0)] = 3  # routed before a rebalance took it away: not ours now
        lag = lag_by_topic(
            [topic, other],
            last_offsets,
            consumer.assignment(),
            lambda t, p: consumer.highwater(TopicPartition(t, p)),
        )
    finally:
        await consumer.stop()
    assert lag == {topic: 600 - read, other: 0}


def test_a_partition_not_fetched_yet_or_behind_the_read_offset_counts_zero():
    marks = {("t", 0): None, ("t", 1): 5}
    lag = lag_by_topic(["t"], {("t", 0): 10, ("t", 1): 9}, set(marks), lambda t, p: marks[(t, p)])
    assert lag == {"t": 0}
