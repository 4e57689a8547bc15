"""Broker heartbeat soft state (kraft.controller.heartbeats)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.controller.heartbeats import BrokerHeartbeatManager
from kraft.metadata.records import BrokerRegistrationChangeRecord
from tests.controller.test_partition_change import broker, cluster_image, replay

TIMEOUT = 9000


def test_session_timeout_must_be_positive() -> None:
    """A non-positive session timeout is a configuration bug."""
    with pytest.raises(ValueError):
        BrokerHeartbeatManager(0)


def test_reset_counts_registered_brokers_as_just_contacted() -> None:
    """After reset, every registered broker's session runs from the reset time."""
    image = cluster_image(broker(1), broker(2))
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.reset(image, 1000)
    assert hb.expired(image, 1000 + TIMEOUT) == []
    assert hb.expired(image, 1000 + TIMEOUT + 1) == [1, 2]
    assert hb.next_expiry_ms(image) == 1000 + TIMEOUT + 1


def test_reset_forgets_previous_state() -> None:
    """Reset drops offsets and brokers no longer registered."""
    image = cluster_image(broker(1))
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.touch(5, 0, 10)
    hb.maybe_set_controlled_shutdown_offset(1, 50, 0)
    hb.reset(image, 100)
    assert hb.state(5) is None
    assert hb.controlled_shutdown_offset(1) is None


def test_touch_extends_session() -> None:
    """A heartbeat restarts the broker's session."""
    image = cluster_image(broker(1), broker(2))
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.reset(image, 0)
    hb.touch(1, 5000, 3)
    assert hb.expired(image, TIMEOUT + 1) == [2]
    assert hb.next_expiry_ms(image) == TIMEOUT + 1
    assert hb.expired(image, 5000 + TIMEOUT + 1) == [2, 1]


def test_fenced_and_unregistered_brokers_never_expire() -> None:
    """Only registered, unfenced brokers have sessions that can expire."""
    image = cluster_image(broker(1, fenced=True), broker(2))
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.reset(image, 0)
    hb.touch(3, 0, 0)
    assert hb.expired(image, 10 * TIMEOUT) == [2]
    fence = BrokerRegistrationChangeRecord(broker_id=2, broker_epoch=2, fenced=True)
    image = replay(image, [fence])
    assert hb.expired(image, 10 * TIMEOUT) == []
    assert hb.next_expiry_ms(image) is None


def test_unknown_unfenced_broker_starts_its_session_when_first_seen() -> None:
    """A broker registered without this manager knowing starts its session at the first
    expiry check that sees it."""
    image = cluster_image(broker(1))
    hb = BrokerHeartbeatManager(TIMEOUT)
    assert hb.next_expiry_ms(image) is None
    assert hb.expired(image, 500) == []
    assert hb.next_expiry_ms(image) == 500 + TIMEOUT + 1


def test_has_valid_session() -> None:
    """A session is valid while unfenced and heard from within the timeout (inclusive)."""
    image = cluster_image(broker(1), broker(2, fenced=True))
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.reset(image, 0)
    assert hb.has_valid_session(image, 1, TIMEOUT)
    assert not hb.has_valid_session(image, 1, TIMEOUT + 1)
    assert not hb.has_valid_session(image, 2, 0)
    assert not hb.has_valid_session(image, 3, 0)


def test_register_new_incarnation_starts_fresh() -> None:
    """A new incarnation forgets the reported offset; a retried registration keeps it."""
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.touch(1, 0, 40)
    hb.register(1, 10, 50, new_incarnation=False)
    state = hb.state(1)
    assert state is not None and (state.metadata_offset, state.last_contact_ms) == (40, 10)
    assert hb.registration_offset(1) == 50
    hb.register(1, 20, 60, new_incarnation=True)
    state = hb.state(1)
    assert state is not None and state.metadata_offset == -1
    assert hb.registration_offset(1) == 60
    hb.remove(1)
    assert hb.state(1) is None and hb.registration_offset(1) is None


def test_controlled_shutdown_offset_set_once_and_cleared_by_fencing() -> None:
    """The controlled-shutdown offset is set by the first request only and cleared when
    the broker is fenced."""
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.touch(1, 0, 0)
    assert hb.controlled_shutdown_offset(1) is None
    assert hb.maybe_set_controlled_shutdown_offset(1, 30, 0) == 30
    assert hb.maybe_set_controlled_shutdown_offset(1, 40, 0) == 30
    hb.touch(1, 1, 35)
    assert hb.controlled_shutdown_offset(1) == 30
    hb.touch(1, 2, 36, fenced=True)
    assert hb.controlled_shutdown_offset(1) is None


def test_lowest_active_offset() -> None:
    """The lowest reported offset counts only active brokers; one that never reported
    counts as -1; no active broker gives None."""
    image = cluster_image(
        broker(1), broker(2), broker(3, fenced=True), broker(4, in_controlled_shutdown=True)
    )
    hb = BrokerHeartbeatManager(TIMEOUT)
    hb.touch(1, 0, 70)
    hb.touch(3, 0, 10)
    hb.touch(4, 0, 5)
    assert hb.lowest_active_offset(image) == -1
    hb.touch(2, 0, 80)
    assert hb.lowest_active_offset(image) == 70
    assert hb.lowest_active_offset(cluster_image(broker(3, fenced=True))) is None


@given(contacts=st.dictionaries(st.integers(0, 6), st.integers(0, 100_000), min_size=1))
def test_next_expiry_is_the_first_time_something_expires(contacts: dict[int, int]) -> None:
    """expired(t) names exactly the brokers silent for longer than the timeout, and
    next_expiry_ms is the first t at which it names one."""
    image = cluster_image(*[broker(b) for b in sorted(contacts)])
    hb = BrokerHeartbeatManager(TIMEOUT)
    for b, t in contacts.items():
        hb.touch(b, t, 0)
    first = hb.next_expiry_ms(image)
    assert first == min(contacts.values()) + TIMEOUT + 1
    assert hb.expired(image, first - 1) == []
    assert hb.expired(image, first) != []
    for now in {first, first + 1000, max(contacts.values()) + TIMEOUT + 1}:
        expected = sorted((t, b) for b, t in contacts.items() if t + TIMEOUT < now)
        assert hb.expired(image, now) == [b for _, b in expected]


GRACE = 500


def test_closed_heartbeat_connection_expires_after_the_grace() -> None:
    """A broker whose heartbeat connection closed, with no heartbeat on another
    connection since, expires a grace after the close, not a session timeout later."""
    image = cluster_image(broker(1), broker(2))
    hb = BrokerHeartbeatManager(TIMEOUT, GRACE)
    hb.reset(image, 0)
    conn = object()
    assert hb.connected(1, conn, 100)
    assert not hb.connected(1, conn, 200)  # the same connection is watched once
    hb.touch(1, 200, 3)
    hb.disconnected(1, conn, 1000)
    assert hb.expired(image, 1000 + GRACE) == []
    assert hb.next_expiry_ms(image) == 1000 + GRACE + 1
    assert hb.expired(image, 1000 + GRACE + 1) == [1]
    assert hb.connection_lost(1) and not hb.connection_lost(2)
    assert not hb.has_valid_session(image, 1, 1000 + GRACE + 1)


def test_heartbeat_on_a_new_connection_cancels_the_grace() -> None:
    """A broker that reconnects (a heartbeat arrives on another connection) within
    the grace keeps its session; a close of a connection it no longer uses is ignored."""
    image = cluster_image(broker(1))
    hb = BrokerHeartbeatManager(TIMEOUT, GRACE)
    hb.reset(image, 0)
    old, new = object(), object()
    hb.connected(1, old, 0)
    hb.disconnected(1, old, 100)
    assert hb.connected(1, new, 300)
    hb.touch(1, 300, 3)
    hb.disconnected(1, old, 400)
    assert hb.expired(image, 300 + TIMEOUT) == []
    assert hb.expired(image, 300 + TIMEOUT + 1) == [1]


def test_the_dead_previous_quorum_leaders_broker_expires_after_the_grace() -> None:
    """A new active controller whose raft saw the previous leader's process die
    (its connection reset) expires that combined node's broker a grace after
    activation unless it heartbeats first; other brokers keep the session timeout."""
    image = cluster_image(broker(1), broker(2), broker(3))
    hb = BrokerHeartbeatManager(TIMEOUT, GRACE)
    hb.reset(image, 1000, dead_process=2)
    assert hb.connection_lost(2) and not hb.connection_lost(3)
    assert hb.expired(image, 1000 + GRACE) == []
    assert hb.expired(image, 1000 + GRACE + 1) == [2]
    hb.reset(image, 1000, dead_process=2)
    assert hb.connected(2, object(), 1200)  # it was alive after all
    hb.touch(2, 1200, 3)
    assert hb.expired(image, 1000 + TIMEOUT) == []
    assert hb.expired(image, 1000 + TIMEOUT + 1) == [1, 3]


def test_negative_grace_keeps_the_session_timeout() -> None:
    """With the grace off (-1) a closed connection changes nothing: only the
    session timeout fences."""
    image = cluster_image(broker(1))
    hb = BrokerHeartbeatManager(TIMEOUT, -1)
    hb.reset(image, 0)
    conn = object()
    hb.connected(1, conn, 0)
    hb.disconnected(1, conn, 10)
    assert hb.expired(image, TIMEOUT) == []
    assert hb.expired(image, TIMEOUT + 1) == [1]


def test_late_heartbeat_on_a_replaced_connection_does_not_take_it_back() -> None:
    """A heartbeat that arrives on a connection the broker already replaced (sent
    before a network partition, retransmitted after the heal), followed by that
    connection's close, neither makes the old connection the broker's again nor
    starts the grace: only the session timeout counts."""
    image = cluster_image(broker(1))
    hb = BrokerHeartbeatManager(TIMEOUT, GRACE)
    hb.reset(image, 0)
    old, new = object(), object()
    assert hb.connected(1, old, 0)
    assert hb.connected(1, new, 300)
    hb.touch(1, 300, 3)
    assert not hb.connected(1, old, 400)  # the stale heartbeat
    hb.touch(1, 400, 3)
    hb.disconnected(1, old, 410)
    assert not hb.connection_lost(1)
    assert hb.expired(image, 400 + TIMEOUT) == []
    assert hb.expired(image, 400 + TIMEOUT + 1) == [1]
