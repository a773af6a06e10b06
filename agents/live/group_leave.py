"""A stopping worker leaves its consumer group even in the group's first generation.

aiokafka's ``GroupCoordinator._maybe_leave_group`` (private; called by the
consumer's ``stop()``) sends LeaveGroup only when ``generation > 0``. Apache
Kafka numbers a group's first generation 1, but Tansu (the embedded broker)
numbers it 0, so there a stopped worker left silently and its shards waited for
the session timeout. The Java client checks for a member id instead, as we do
here: a member that joined (has a member id) leaves, whatever its generation.
Static members (``group.instance.id``) still never leave, as upstream.
pyproject.toml bounds aiokafka's minor version; tests/agents/live/test_group_leave.py
fails if the private name moves.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def leave_group_in_any_generation() -> None:
    """Make every aiokafka group coordinator send LeaveGroup on stop once it has joined."""
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from aiokafka.errors import KafkaError
    from aiokafka.protocol.group import LeaveGroupRequest

    original = GroupCoordinator._maybe_leave_group
    if getattr(original, "_edc_latency", False):
        return

    async def maybe_leave_group(self: Any) -> None:
        if self.generation != 0 or not self.member_id or self._group_instance_id is not None:
            await original(self)  # upstream decides: it already handles generation > 0
            return
        try:
            await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
        except KafkaError as error:
            # Best effort, as upstream: the group drops us after the session timeout.
            log.warning("leaving the consumer group failed: %s", type(error).__name__)
        else:
            log.info("left the consumer group")
        self.reset_generation()

    maybe_leave_group._edc_latency = True  # type: ignore[attr-defined]
    GroupCoordinator._maybe_leave_group = maybe_leave_group
