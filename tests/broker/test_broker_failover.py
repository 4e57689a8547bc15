"""A broker's failover timers: its own view of its session (kraft.broker.lifecycle.presumed_fenced)
and the bound on a replica fetch over a dead connection (kraft.broker.fetcher)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import trio
import trio.testing
from kio.schema.broker_heartbeat.v2.response import BrokerHeartbeatResponse
from kio.schema.broker_registration.v4.response import BrokerRegistrationResponse
from kio.schema.errors import ErrorCode

from kraft.broker.controller_channel import ControllerUnavailable
from kraft.broker.lifecycle import BrokerLifecycleManager
from kraft.net.messages import build

SESSION_MS = 9000


class ScriptedController:
    """Answers registration, then heartbeats while `up`; otherwise the channel
    gives up after its timeout, as when the controller is unreachable."""

    def __init__(self) -> None:
        self.up = True
        self.registrations: list[Any] = []

    async def send(self, request: Any, timeout_s: float, *, heartbeat: bool = False) -> Any:
        if not self.up:
            await trio.sleep(timeout_s)
            raise ControllerUnavailable("controller unreachable")
        if type(request).__name__ == "BrokerRegistrationRequest":
            self.registrations.append(request)
            return build(BrokerRegistrationResponse, throttle_time=timedelta(0),
                         error_code=ErrorCode.none, broker_epoch=7)
        return build(BrokerHeartbeatResponse, throttle_time=timedelta(0),
                     error_code=ErrorCode.none, is_caught_up=True,
                     is_fenced=False, should_shut_down=False)


async def test_unanswered_heartbeats_for_a_session_timeout_presume_fenced(
        autojump_clock: trio.testing.MockClock) -> None:
    """Once no heartbeat was answered for a session timeout (counted from the send
    of the last answered one) the broker presumes itself fenced; an answer ends it."""
    controller = ScriptedController()
    lifecycle = BrokerLifecycleManager(1, "c", controller, [], lambda: 0,  # type: ignore[arg-type]
                                       heartbeat_interval_ms=2000,
                                       session_timeout_ms=SESSION_MS)
    lifecycle.ready_to_unfence.set()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lifecycle.run)
        await lifecycle.unfenced.wait()
        assert not lifecycle.presumed_fenced()
        controller.up = False
        lost_at = trio.current_time()
        last_sent = lifecycle.session_valid_until
        assert last_sent is not None and last_sent <= lost_at + SESSION_MS / 1000
        await trio.sleep_until(last_sent)
        assert not lifecycle.presumed_fenced()
        await trio.sleep(0.01)
        assert lifecycle.presumed_fenced()
        controller.up = True
        lifecycle.wake()
        with trio.fail_after(30):
            while lifecycle.presumed_fenced():
                await trio.sleep(0.1)
        nursery.cancel_scope.cancel()


async def test_registration_carries_each_listeners_security_protocol(
        autojump_clock: trio.testing.MockClock) -> None:
    """BrokerRegistration names each listener's protocol by Kafka's SecurityProtocol id
    (PLAINTEXT when none is given), as the controller records it."""
    controller = ScriptedController()
    listeners = [("PLAINTEXT", "h", 1), ("SECURE", "h", 2), ("TLS", "h", 3)]
    lifecycle = BrokerLifecycleManager(1, "c", controller, listeners,  # type: ignore[arg-type]
                                       lambda: 0,
                                       security_protocols={"SECURE": "SASL_SSL", "TLS": "SSL"})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lifecycle.run)
        with trio.fail_after(10):
            while not controller.registrations:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    sent = controller.registrations[0].listeners
    assert [(lst.name, lst.security_protocol) for lst in sent] == [
        ("PLAINTEXT", 0), ("SECURE", 3), ("TLS", 1)]


async def test_without_a_session_timeout_never_presumed_fenced(
        autojump_clock: trio.testing.MockClock) -> None:
    """With the key off (no session timeout given) unanswered heartbeats never
    make the broker presume itself fenced."""
    controller = ScriptedController()
    lifecycle = BrokerLifecycleManager(1, "c", controller, [], lambda: 0)  # type: ignore[arg-type]
    lifecycle.ready_to_unfence.set()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lifecycle.run)
        await lifecycle.unfenced.wait()
        controller.up = False
        await trio.sleep(10 * SESSION_MS / 1000)
        assert not lifecycle.presumed_fenced()
        nursery.cancel_scope.cancel()


def test_replica_fetch_waits_max_wait_plus_the_response_timeout_at_most() -> None:
    """A follower's fetch request times out (closing its connection) after
    replica.fetch.wait.max.ms + kraft.replica.fetch.response.timeout.ms, never
    later than replica.socket.timeout.ms (30 s)."""
    from kraft.broker.fetcher import REQUEST_TIMEOUT_S, ReplicaFetcherManager

    def manager(**kw: int) -> ReplicaFetcherManager:
        return ReplicaFetcherManager(1, lambda: 0, lambda: None,  # type: ignore[arg-type,return-value]
                                     "PLAINTEXT", lambda p: None, **kw)

    assert manager(max_wait_ms=500, response_timeout_ms=5000).request_timeout_s == 5.5
    assert manager(max_wait_ms=500, response_timeout_ms=60000).request_timeout_s == \
        REQUEST_TIMEOUT_S


async def test_unanswered_heartbeats_are_logged_when_it_starts_and_ends(
        autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture) -> None:
    """A controller unreachable for many heartbeats gives one INFO line when it starts
    and one when a heartbeat is answered again; the repeats are at DEBUG (issue 12:
    a node that lost its quorum logs state changes, not the same line every 5 s)."""
    controller = ScriptedController()
    lifecycle = BrokerLifecycleManager(1, "c", controller, [], lambda: 0,  # type: ignore[arg-type]
                                       heartbeat_interval_ms=2000)
    lifecycle.ready_to_unfence.set()
    with caplog.at_level(logging.DEBUG, logger="kraft.broker"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lifecycle.run)
            await lifecycle.unfenced.wait()
            controller.up = False
            await trio.sleep(60)
            controller.up = True
            lifecycle.wake()
            await trio.sleep(30)
            nursery.cancel_scope.cancel()
    heartbeat = [(r.levelno, r.getMessage()) for r in caplog.records
                 if "heartbeat" in r.getMessage()]
    info = [m for level, m in heartbeat if level == logging.INFO]
    assert info == ["node 1: heartbeat failed: controller unreachable",
                    "node 1: heartbeat answered again"]
    assert sum(1 for level, _ in heartbeat if level == logging.DEBUG) >= 3
