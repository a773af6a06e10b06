"""What /readyz and /healthz answer, step by step on a clock the test moves."""

from __future__ import annotations

from agents.live.readiness import Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ready_only_with_every_shard_restored_and_a_broker_that_answered_lately():
    clock = Clock()
    readiness = Readiness(30.0, clock=clock)
    assert readiness.ready([]) == (False, ["broker not reached yet"])
    readiness.broker_answered()
    assert readiness.ready([]) == (True, [])
    ready, reasons = readiness.ready([3, 1])
    assert not ready and reasons == ["shards not restored yet: [1, 3]"]
    clock.now += 29
    readiness.broker_failed(ConnectionRefusedError("secret-host:9092"))
    assert readiness.ready([])[0]  # within the allowance
    clock.now += 2
    ready, reasons = readiness.ready([])
    assert not ready and reasons == ["broker unreachable for over 30s (ConnectionRefusedError)"]
    assert "secret-host" not in str(reasons)
    assert readiness.healthy() == (True, [])  # a restart would not bring the broker back
    readiness.broker_answered()
    assert readiness.ready([]) == (True, [])


def test_a_fatal_condition_makes_the_worker_unhealthy_and_unready():
    readiness = Readiness(30.0, clock=Clock())
    readiness.broker_answered()
    readiness.fatal = "shard 2 not restored after 5 attempts"
    assert readiness.healthy() == (False, ["stopping: shard 2 not restored after 5 attempts"])
    assert readiness.ready([])[0] is False
