"""A consumer that stops leaves its group at once (agents/live/group_leave.py), on a broker that
numbers the first generation 0 (the embedded Tansu) as on one that numbers it 1.

Without the leave the stopped member stays listed until the session timeout, and its
partitions wait that long for another worker.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.consumer.group_coordinator import GroupCoordinator

from agents.kafka.topics import ensure_topics
from agents.live.group_leave import leave_group_in_any_generation


async def group_members(bootstrap: str, group: str) -> list[str]:
    """The member ids the broker lists for a consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    # DescribeGroups: groups are (error, id, state, protocol type, protocol, members, ...),
    # members start with their member id.
    return [member[0] for response in responses for g in response.groups for member in g[5]]


def test_the_patched_name_is_what_stop_calls():
    assert "await self._maybe_leave_group()" in inspect.getsource(GroupCoordinator.close)
    assert "await self._coordinator.close()" in inspect.getsource(AIOKafkaConsumer.stop)


async def test_a_stopped_consumer_is_no_longer_listed_in_its_group(kafka_bootstrap: str):
    leave_group_in_any_generation()
    topic, group = f"leave-{uuid.uuid4().hex[:8]}", f"leave-{uuid.uuid4().hex[:8]}"
    await ensure_topics({"bootstrap_servers": kafka_bootstrap}, {topic: 2})
    # A long session: only a leave, not an expiry, can drop the member within this test.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group, session_timeout_ms=60_000
    )
    await consumer.start()
    try:
        for _ in range(300):  # bounded: 30 s for the first assignment
            if consumer.assignment():
                break
            await asyncio.sleep(0.1)
        assert consumer.assignment(), "the consumer never joined its group"
        member = consumer._coordinator.member_id
        assert await group_members(kafka_bootstrap, group) == [member]
    finally:
        await consumer.stop()
    assert await group_members(kafka_bootstrap, group) == []
