"""BrokerLifecycleManager: registration, heartbeats, fencing and controlled shutdown.

Kafka's BrokerLifecycleManager, as a trio task. States (kraft.md 2.3):

    STARTING   -> registering with the active controller
    RECOVERY   -> registered, fenced, catching up (heartbeats want_fence=True
                  until the broker says it is ready: its metadata image holds
                  this registration and its logs are open)
    RUNNING    -> unfenced: clients may be led by this broker
    PENDING_CONTROLLED_SHUTDOWN -> asked to shut down; the controller moves
                  leadership away, then answers should_shut_down
    SHUTTING_DOWN

The broker epoch is the offset of the controller's RegisterBrokerRecord.
Heartbeats go every broker.heartbeat.interval.ms while running, and every
FAST_HEARTBEAT_S while fenced or shutting down so that startup and shutdown
do not wait a whole interval. A heartbeat answered STALE_BROKER_EPOCH or
BROKER_ID_NOT_REGISTERED means the controller no longer knows this
registration: the broker registers again (it is fenced until it catches up).

The epoch of the last registration is kept in `broker-epoch` in the first
log dir and sent as previous_broker_epoch when the broker registers after a
restart, so the controller knows it is the same broker coming back (after a
kill -9 too) and need not wait for the old session to expire.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import trio
from kio.schema.broker_heartbeat.v2.request import BrokerHeartbeatRequest
from kio.schema.broker_registration.v4.request import (
    BrokerRegistrationRequest,
    Feature,
    Listener,
)
from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.static.primitive import i16, i64, u16

from kraft.broker.controller_channel import (
    ControllerChannel,
    ControllerUnavailable,
    UnansweredLog,
)
from kraft.controller.quorum_controller import METADATA_VERSION_LEVEL
from kraft.log.checkpoint import atomic_write
from kraft.metadata.records import METADATA_VERSION, TRANSACTION_VERSION, TRANSACTION_VERSION_LEVEL
from kraft.net.security import PROTOCOL_IDS

log = logging.getLogger("kraft.broker")

FAST_HEARTBEAT_S = 0.05
REQUEST_TIMEOUT_S = 5.0
_REREGISTER = (ErrorCode.stale_broker_epoch, ErrorCode.broker_id_not_registered)


class BrokerState(enum.Enum):
    STARTING = "starting"
    RECOVERY = "recovery"
    RUNNING = "running"
    PENDING_CONTROLLED_SHUTDOWN = "pending controlled shutdown"
    SHUTTING_DOWN = "shutting down"


class BrokerLifecycleManager:
    def __init__(
        self,
        node_id: int,
        cluster_id: str,
        channel: ControllerChannel,
        listeners: list[tuple[str, str, int]],
        metadata_offset: Callable[[], int],
        *,
        heartbeat_interval_ms: int = 2000,
        session_timeout_ms: int | None = None,
        rack: str | None = None,
        epoch_file: Path | None = None,
        security_protocols: Mapping[str, str] | None = None,
    ) -> None:
        """`session_timeout_ms`: with it, `presumed_fenced` tells when the
        controller may have fenced this broker (None: never presumed).
        `security_protocols`: each listener's protocol (PLAINTEXT if absent), as
        the registration tells the controller."""
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.channel = channel
        self.listeners = listeners
        self.security_protocols = dict(security_protocols or {})
        self.metadata_offset = metadata_offset
        self.heartbeat_interval_s = heartbeat_interval_ms / 1000
        self.session_timeout_s = None if session_timeout_ms is None else session_timeout_ms / 1000
        self._session_valid_until: float | None = None
        self.rack = rack
        self.incarnation_id = uuid.uuid4()
        self.epoch_file = epoch_file
        self.broker_epoch = _read_epoch(epoch_file)
        self.state = BrokerState.STARTING
        self.ready_to_unfence = trio.Event()
        self.registered = trio.Event()
        self.unfenced = trio.Event()
        self._want_shutdown = False
        self._shutdown_acknowledged = trio.Event()
        self._wake = trio.Event()
        self._unanswered = UnansweredLog(node_id, "heartbeat failed: %s",
                                         "heartbeat answered again")

    @property
    def session_valid_until(self) -> float | None:
        """The trio time until which the controller cannot have fenced this broker
        for silence: a session timeout after the *send* of the last heartbeat it
        answered unfenced (the controller heard it no earlier). None before
        the first such answer, while fenced, or without a session timeout."""
        return self._session_valid_until

    def presumed_fenced(self) -> bool:
        """True once heartbeats have gone unanswered past `session_valid_until`:
        the controller may have fenced this broker and moved its partitions, so
        it must not acknowledge writes as their leader (docs/design.md, "Failing over")."""
        until = self._session_valid_until
        return until is not None and trio.current_time() > until

    def wake(self) -> None:
        """Send the next heartbeat now (the broker became ready, or the metadata moved)."""
        self._wake.set()

    async def run(self) -> None:
        """Register, then heartbeat until cancelled or shut down."""
        while True:
            await self._register()
            if await self._heartbeat_until_lost():
                return

    async def controlled_shutdown(self, timeout_s: float) -> bool:
        """Ask the controller for a controlled shutdown; True once it agreed
        (leadership moved away) within `timeout_s`."""
        if self.state in (BrokerState.STARTING, BrokerState.RECOVERY):
            return True  # fenced: leads nothing
        self._want_shutdown = True
        self.state = BrokerState.PENDING_CONTROLLED_SHUTDOWN
        self.wake()
        with trio.move_on_after(timeout_s):
            await self._shutdown_acknowledged.wait()
            return True
        return False

    async def _register(self) -> None:
        request = BrokerRegistrationRequest(
            broker_id=BrokerId(self.node_id),
            cluster_id=self.cluster_id,
            incarnation_id=self.incarnation_id,
            listeners=tuple(
                Listener(name=name, host=host, port=u16(port), security_protocol=i16(
                    PROTOCOL_IDS[self.security_protocols.get(name, "PLAINTEXT")]))
                for name, host, port in self.listeners
            ),
            features=(
                Feature(name=METADATA_VERSION, min_supported_version=i16(METADATA_VERSION_LEVEL),
                        max_supported_version=i16(METADATA_VERSION_LEVEL)),
                Feature(name=TRANSACTION_VERSION, min_supported_version=i16(0),
                        max_supported_version=i16(TRANSACTION_VERSION_LEVEL)),
            ),
            rack=self.rack,
            previous_broker_epoch=i64(self.broker_epoch),
        )
        while True:
            try:
                response = await self.channel.send(request, REQUEST_TIMEOUT_S, heartbeat=True)
            except ControllerUnavailable as e:
                log.info("node %d: registration pending: %s", self.node_id, e)
                continue
            if response.error_code == ErrorCode.none:
                self.broker_epoch = response.broker_epoch
                if self.epoch_file is not None:
                    await trio.to_thread.run_sync(
                        atomic_write, self.epoch_file, f"{self.broker_epoch}\n".encode()
                    )
                self.state = BrokerState.RECOVERY
                self.registered.set()
                log.info("node %d: registered with broker epoch %d", self.node_id,
                         self.broker_epoch)
                return
            log.info("node %d: registration refused (%s); retrying", self.node_id,
                     response.error_code.name)
            await trio.sleep(self.heartbeat_interval_s / 4)

    async def _heartbeat_until_lost(self) -> bool:
        """Heartbeat; False when the registration is lost, True after shutdown."""
        while True:
            request = BrokerHeartbeatRequest(
                broker_id=BrokerId(self.node_id),
                broker_epoch=i64(self.broker_epoch),
                current_metadata_offset=i64(self.metadata_offset()),
                want_fence=not self.ready_to_unfence.is_set(),
                want_shut_down=self._want_shutdown,
            )
            self._wake = trio.Event()
            sent_at = trio.current_time()
            try:
                response = await self.channel.send(request, REQUEST_TIMEOUT_S, heartbeat=True)
            except ControllerUnavailable as e:
                self._unanswered.failed(str(e))
                continue
            self._unanswered.answered()
            if (response.error_code == ErrorCode.none and not response.is_fenced
                    and self.session_timeout_s is not None):
                self._session_valid_until = sent_at + self.session_timeout_s
            if response.error_code in _REREGISTER:
                log.info("node %d: controller lost our registration (%s); registering again",
                         self.node_id, response.error_code.name)
                self._fenced()
                return False
            if response.error_code == ErrorCode.none:
                if response.should_shut_down:
                    self.state = BrokerState.SHUTTING_DOWN
                    self._shutdown_acknowledged.set()
                    return True
                if response.is_fenced:
                    self._fenced()
                elif self.state is BrokerState.RECOVERY:
                    self.state = BrokerState.RUNNING
                    self.unfenced.set()
                    log.info("node %d: unfenced", self.node_id)
            fast = self.state is not BrokerState.RUNNING
            with trio.move_on_after(FAST_HEARTBEAT_S if fast else self.heartbeat_interval_s):
                await self._wake.wait()

    def _fenced(self) -> None:
        self._session_valid_until = None
        if self.state is BrokerState.RUNNING:
            log.info("node %d: fenced by the controller", self.node_id)
            self.unfenced = trio.Event()
        if self.state is not BrokerState.PENDING_CONTROLLED_SHUTDOWN:
            self.state = BrokerState.RECOVERY


def _read_epoch(path: Path | None) -> int:
    """The broker epoch this broker last registered with (-1 if unknown)."""
    if path is None:
        return -1
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return -1
