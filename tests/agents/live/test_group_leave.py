"""A consumer that stops leaves its group at once (agents/live/group_leave.py), on a broker that
numbers the first generation 0 (the embedded Tansu) as on one that numbers it 1.

Without the leave the stopped member stays listed until the session timeout, and its
partitions wait that long for another worker.
"""

from __future__ import annotations

import inspect
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.consumer.group_coordinator import GroupCoordinator

from agents.harness.waiting import wait_for_async
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
    # A session of 10 s: only a leave, not an expiry, can drop the member in the moment between
    # the stop and the look. Not longer: the embedded broker holds a group's first join for half
    # a session (measured: 30 s of a 60 s one).
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group, session_timeout_ms=10_000
    )
    await consumer.start()
    try:
        joined = await wait_for_async(consumer.assignment, 30)  # the first assignment
        assert joined, "the consumer never joined its group"
        member = consumer._coordinator.member_id
        assert await group_members(kafka_bootstrap, group) == [member]
    finally:
        await consumer.stop()
    assert await group_members(kafka_bootstrap, group) == []
