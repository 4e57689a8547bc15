"""Broker heartbeat soft state on the active controller (Kafka's BrokerHeartbeatManager).

Theory of operation: whether a broker is alive is not in the metadata log. Only
the active controller knows it, from the BrokerHeartbeat requests it receives,
and a newly active controller starts from nothing: `reset` counts every
registered broker as just contacted, as a new Kafka controller does, so a
failover delays fencing by at most one session timeout and never fences early.

Per broker it keeps:
- `last_contact_ms`: when the controller last heard from it (registration or
  heartbeat). A registered, unfenced broker whose last contact is more than
  `session_timeout_ms` ago has an expired session and must be fenced
  (`expired`, `next_expiry_ms`).
- `metadata_offset`: the metadata offset it reported in its last heartbeat
  (-1 until it sends one). The lowest such offset over the *active* brokers
  (registered, unfenced, not in controlled shutdown) gates the end of a
  controlled shutdown (`lowest_active_offset`).
- `controlled_shutdown_offset`: the offset of the last record of the batch that
  moved it into controlled shutdown; once every active broker has reached it,
  the shutting-down broker may stop. Set once per controlled shutdown and
  cleared when the broker is fenced (Kafka's `touch(fenced=true)`).
- `registration_offset`: the offset of the RegisterBrokerRecord this controller
  wrote for it. It equals the broker epoch except when a retried registration
  (same incarnation) re-wrote the record at a later offset, keeping the epoch;
  unknown after a failover, when callers fall back to the broker epoch.

Fencing state itself is *not* kept here: it is read from the image passed in,
which (on the active controller) includes its own uncommitted records, so a
broker whose fencing records were just appended is no longer "unfenced" even
before they commit. Brokers present in the image but unknown here (registered
by records this controller replayed without writing) are treated by `expired`
as contacted at the time of that call, as Kafka's replay does by registering
them with the heartbeat manager.

Connection loss (kraft, not Kafka; `disconnect_grace_ms`, key
kraft.broker.session.disconnect.grace.ms). A broker heartbeats over a
connection of its own (kraft.broker.controller_channel). `connected` records
the connection each heartbeat arrives on, when it arrives; `disconnected`
records that this connection closed. The kernel closes a dead process's
connections at once, so a broker whose heartbeat connection closed and that
has not heartbeated on another one within the grace is dead: `expired` names
it then, without waiting out the session timeout. A live broker that closed
its connection itself (a request timed out) sends its next heartbeat on a
new connection at once, well within the grace; a slow or paused broker, or
one behind a network partition, closes nothing and keeps the full session
timeout: only the kernel's word shortens it. A negative grace turns this off.
The kernel's word also reaches a new active controller that never had the
dead broker's connection: when the previous quorum leader's raft connection
was refused or reset (its process died), a broker with its node id (a
combined node) starts out disconnected (`reset`, `dead_process`).

All times are the controller's monotonic clock in milliseconds. Not
thread-safe; the active controller's single command task owns it (and the
connection callbacks, which run on the same trio thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kraft.metadata.image import MetadataImage

__all__ = ["BrokerHeartbeatManager", "BrokerHeartbeatState"]

RETIRED_KEPT = 4  # replaced heartbeat connections remembered per broker


@dataclass(slots=True)
class BrokerHeartbeatState:
    """What the active controller knows about one broker's liveness (mutable soft state)."""

    last_contact_ms: int
    metadata_offset: int = -1
    controlled_shutdown_offset: int = -1
    registration_offset: int = -1
    connection: object | None = None  # the connection its last heartbeat arrived on
    disconnected_ms: int = -1  # when that connection closed; -1 while open or unknown
    # Connections a later one replaced (the last few): a heartbeat the broker sent
    # on one before it gave it up can arrive after a network partition heals,
    # TCP-retransmitted, followed by that connection's close. It still counts as
    # contact, but never makes that connection the broker's again.
    retired: list[object] = field(default_factory=list)


class BrokerHeartbeatManager:
    """Liveness and controlled-shutdown progress of brokers, on the active controller only."""

    def __init__(self, session_timeout_ms: int, disconnect_grace_ms: int = -1) -> None:
        if session_timeout_ms <= 0:
            raise ValueError(f"session timeout must be positive, got {session_timeout_ms}")
        self.session_timeout_ms = session_timeout_ms
        self.disconnect_grace_ms = disconnect_grace_ms
        self._brokers: dict[int, BrokerHeartbeatState] = {}

    def state(self, broker_id: int) -> BrokerHeartbeatState | None:
        """The broker's soft state, or None if this controller has none for it."""
        return self._brokers.get(broker_id)

    # --- lifecycle --------------------------------------------------------------------

    def reset(self, image: MetadataImage, now_ms: int, *, dead_process: int | None = None
              ) -> None:
        """Forget everything; every broker registered in `image` counts as contacted at `now_ms`.

        Called when this controller becomes active. `dead_process`: the node id
        of the previous quorum leader when this node saw its raft connection
        refused or reset by the kernel (RaftCore.lost_leader): a combined node's
        broker is that same process, so it counts as disconnected now and is
        expired after the disconnect grace unless it heartbeats first, instead
        of after a whole session timeout. A broker with another id, or a live
        one (it heartbeats within the grace), is not affected.
        """
        self._brokers = {
            broker_id: BrokerHeartbeatState(now_ms) for broker_id in image.cluster.brokers
        }
        if dead_process is not None and dead_process in self._brokers:
            self._brokers[dead_process].disconnected_ms = now_ms

    def touch(
        self, broker_id: int, now_ms: int, metadata_offset: int, *, fenced: bool = False
    ) -> None:
        """Record contact from the broker at `now_ms`, reporting `metadata_offset`.

        `fenced` says the broker is fenced after this contact; a fenced broker
        leaves controlled shutdown, so its controlled-shutdown offset is cleared.
        """
        state = self._brokers.get(broker_id)
        if state is None:
            state = self._brokers[broker_id] = BrokerHeartbeatState(now_ms)
        state.last_contact_ms = now_ms
        state.metadata_offset = metadata_offset
        if fenced:
            state.controlled_shutdown_offset = -1

    def register(
        self, broker_id: int, now_ms: int, registration_offset: int, *, new_incarnation: bool
    ) -> None:
        """Record a registration written at `registration_offset`, as contact at `now_ms`.

        A new incarnation starts from fresh state (its old session is gone); a
        retried registration of the same incarnation keeps the reported offset.
        """
        if new_incarnation:
            self._brokers.pop(broker_id, None)
        state = self._brokers.get(broker_id)
        if state is None:
            state = self._brokers[broker_id] = BrokerHeartbeatState(now_ms)
        state.last_contact_ms = now_ms
        state.registration_offset = registration_offset

    def connected(self, broker_id: int, connection: object, now_ms: int) -> bool:
        """A heartbeat of the broker arrived on `connection` (any object that
        identifies it). True if this is a connection not seen for the broker
        before, which the caller watches (`disconnected` when it closes)."""
        state = self._brokers.get(broker_id)
        if state is None:
            state = self._brokers[broker_id] = BrokerHeartbeatState(now_ms)
        if state.connection is connection or any(c is connection for c in state.retired):
            return False
        if state.connection is not None:
            state.retired = [*state.retired[-(RETIRED_KEPT - 1):], state.connection]
        state.connection = connection
        state.disconnected_ms = -1
        return True

    def disconnected(self, broker_id: int, connection: object, now_ms: int) -> None:
        """`connection` closed at `now_ms`; it counts only if the broker's last
        heartbeat arrived on it."""
        state = self._brokers.get(broker_id)
        if state is not None and state.connection is connection:
            state.disconnected_ms = now_ms

    def _deadline_ms(self, state: BrokerHeartbeatState) -> int:
        """When the broker's session ends: a session timeout after the last
        contact, or the grace after its heartbeat connection closed, if sooner."""
        deadline = state.last_contact_ms + self.session_timeout_ms
        if self.disconnect_grace_ms >= 0 and state.disconnected_ms >= 0:
            deadline = min(deadline, state.disconnected_ms + self.disconnect_grace_ms)
        return deadline

    def remove(self, broker_id: int) -> None:
        """Forget the broker (it was unregistered)."""
        self._brokers.pop(broker_id, None)

    def registration_offset(self, broker_id: int) -> int | None:
        """Offset of the RegisterBrokerRecord this controller wrote for the broker, if any."""
        state = self._brokers.get(broker_id)
        if state is None or state.registration_offset < 0:
            return None
        return state.registration_offset

    # --- sessions ---------------------------------------------------------------------

    def has_valid_session(self, image: MetadataImage, broker_id: int, now_ms: int) -> bool:
        """True if the broker is registered and unfenced in `image` and heard from within
        the session timeout (Kafka's `hasValidSession`: fenced brokers have no session)."""
        registration = image.cluster.brokers.get(broker_id)
        state = self._brokers.get(broker_id)
        if registration is None or registration.fenced or state is None:
            return False
        return self._deadline_ms(state) >= now_ms

    def connection_lost(self, broker_id: int) -> bool:
        """Whether the broker's heartbeat connection closed and no heartbeat came
        on another one since (for log lines)."""
        state = self._brokers.get(broker_id)
        return state is not None and state.disconnected_ms >= 0

    def expired(self, image: MetadataImage, now_ms: int) -> list[int]:
        """Registered, unfenced brokers of `image` whose session has expired at `now_ms`,
        longest silent first (then by id).

        Brokers unknown to this manager start their session now (see module doc).
        """
        out: list[tuple[int, int]] = []
        for broker_id, registration in image.cluster.brokers.items():
            if registration.fenced:
                continue
            state = self._brokers.get(broker_id)
            if state is None:
                self._brokers[broker_id] = BrokerHeartbeatState(now_ms)
                continue
            if self._deadline_ms(state) < now_ms:
                out.append((state.last_contact_ms, broker_id))
        return [broker_id for _, broker_id in sorted(out)]

    def next_expiry_ms(self, image: MetadataImage) -> int | None:
        """The earliest time at which `expired(image, t)` would name a broker this manager
        knows, or None if no registered broker is unfenced."""
        deadlines = [
            self._deadline_ms(state) + 1
            for broker_id, registration in image.cluster.brokers.items()
            if not registration.fenced and (state := self._brokers.get(broker_id)) is not None
        ]
        return min(deadlines, default=None)

    # --- controlled shutdown ----------------------------------------------------------

    def controlled_shutdown_offset(self, broker_id: int) -> int | None:
        """The offset the broker's controlled shutdown waits for, or None if none is set."""
        state = self._brokers.get(broker_id)
        if state is None or state.controlled_shutdown_offset < 0:
            return None
        return state.controlled_shutdown_offset

    def maybe_set_controlled_shutdown_offset(self, broker_id: int, offset: int, now_ms: int) -> int:
        """Set the controlled-shutdown offset unless one is already set; returns the one in force.

        Kafka's `maybeUpdateControlledShutdownOffset`: later heartbeats of the same
        controlled shutdown do not move it.
        """
        state = self._brokers.get(broker_id)
        if state is None:
            state = self._brokers[broker_id] = BrokerHeartbeatState(now_ms)
        if state.controlled_shutdown_offset < 0:
            state.controlled_shutdown_offset = max(offset, 0)
        return state.controlled_shutdown_offset

    def lowest_active_offset(self, image: MetadataImage) -> int | None:
        """The lowest metadata offset reported by an active broker of `image` (registered,
        unfenced, not in controlled shutdown); -1 for one that has not reported yet;
        None if there is no active broker."""
        offsets = [
            state.metadata_offset if (state := self._brokers.get(broker_id)) else -1
            for broker_id, registration in image.cluster.brokers.items()
            if registration.active
        ]
        return min(offsets, default=None)
