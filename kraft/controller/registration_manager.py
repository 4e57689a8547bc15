"""ControllerRegistrationManager: this controller registers itself with the active
controller (KIP-919; Kafka's ControllerRegistrationManager).

Every controller, voter or observer, runs one. It is a metadata publisher: it
is *registered* while the committed image's controller table
(`ClusterImage.controllers`) holds a registration of its node id with this
process's incarnation id, a fresh uuid per process start. While it is not, it
sends a ControllerRegistrationRequest (node id, incarnation id,
zk_migration_ready false, its controller listeners with host, port and
security protocol, the feature ranges it supports) to the active controller,
one at a time. The request goes through the node's channel to the active
controller (`send`), which finds the leader, follows leader changes and
retries NOT_CONTROLLER; an answer with another error, or no answer, is
retried after an exponential backoff (Kafka's: 100 ms doubling, at most 120 s,
2% jitter), cut short when a leader becomes known. A success is not the end:
the manager is registered when the committed log shows it, so a registration
lost to a leader change before committing is sent again, and a restart (new
incarnation) registers again.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from kio.schema.controller_registration.v0.request import (
    ControllerRegistrationRequest,
    Feature,
    Listener,
)
from kio.schema.errors import ErrorCode
from kio.static.primitive import i16, i32, u16

from kraft.controller.quorum_controller import METADATA_VERSION_LEVEL
from kraft.metadata.loader import MetadataUpdate
from kraft.metadata.records import METADATA_VERSION, TRANSACTION_VERSION, TRANSACTION_VERSION_LEVEL
from kraft.net.security import PROTOCOL_IDS
from kraft.raft.types import LeaderAndEpoch

__all__ = [
    "SUPPORTED_FEATURES",
    "ControllerRegistrationManager",
    "RegisteredListener",
    "SupportedFeature",
]

log = logging.getLogger("kraft.controller")

REQUEST_TIMEOUT_S = 5.0
BACKOFF_INITIAL_S = 0.1
BACKOFF_MAX_S = 120.0
BACKOFF_JITTER = 0.02

Send = Callable[[Any, float], Awaitable[Any | None]]
"""(request, timeout in seconds) -> the active controller's response, None if none came."""


@dataclass(frozen=True, slots=True)
class RegisteredListener:
    """A controller listener as registered: name, advertised host and port, protocol."""

    name: str
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"


@dataclass(frozen=True, slots=True)
class SupportedFeature:
    """A feature range this controller supports, inclusive at both ends."""

    name: str
    min_version: int
    max_version: int


SUPPORTED_FEATURES = (
    SupportedFeature(METADATA_VERSION, METADATA_VERSION_LEVEL, METADATA_VERSION_LEVEL),
    SupportedFeature("kraft.version", 0, 1),
    SupportedFeature(TRANSACTION_VERSION, 0, TRANSACTION_VERSION_LEVEL),
)
"""What a kraft controller supports: the metadata.version it writes, both
kraft.versions (static and dynamic quorums, KIP-853) and the
transaction.versions its brokers serve."""


class ControllerRegistrationManager:
    """Registers `node_id` with the active controller until the log holds it."""

    def __init__(self, node_id: int, listeners: Sequence[RegisteredListener],
                 features: Sequence[SupportedFeature], send: Send, *,
                 incarnation_id: uuid.UUID | None = None,
                 rng: random.Random | None = None) -> None:
        self.node_id = node_id
        self.incarnation_id = incarnation_id or uuid.uuid4()
        self.listeners = tuple(listeners)
        self.features = tuple(features)
        self._send = send
        self._rng = rng or random.Random()
        self.registered_in_log = False
        self.registered = trio.Event()  # set once the log first holds this registration
        self._changed = trio.Event()
        self._leader_known = trio.Event()
        self.successful_rpcs = 0
        self.failed_rpcs = 0

    # --- publisher side ---------------------------------------------------------

    def publish(self, update: MetadataUpdate) -> None:
        current = update.image.cluster.controllers.get(self.node_id)
        ours = current is not None and current.incarnation_id == self.incarnation_id
        if ours == self.registered_in_log:
            return
        if ours:
            log.info("node %d: controller registration (incarnation %s) is in the "
                     "metadata log", self.node_id, self.incarnation_id)
            self.registered.set()
        elif current is not None:
            log.info("node %d: the log holds controller registration %s instead of ours",
                     self.node_id, current.incarnation_id)
        self.registered_in_log = ours
        self._changed.set()

    def leader_changed(self, leader: LeaderAndEpoch) -> None:
        """A newly known leader ends the wait after a failure at once: failures while
        no leader was known (a cluster starting) must not delay the registration by
        a backoff grown meanwhile."""
        if leader.leader_id is not None:
            self._leader_known.set()

    # --- sending ------------------------------------------------------------------

    def request(self) -> ControllerRegistrationRequest:
        """The registration this process sends."""
        return ControllerRegistrationRequest(
            controller_id=i32(self.node_id),
            incarnation_id=self.incarnation_id,
            zk_migration_ready=False,
            listeners=tuple(
                Listener(name=lst.name, host=lst.host, port=u16(lst.port),
                         security_protocol=i16(PROTOCOL_IDS[lst.security_protocol]))
                for lst in self.listeners),
            features=tuple(
                Feature(name=f.name, min_supported_version=i16(f.min_version),
                        max_supported_version=i16(f.max_version))
                for f in self.features),
        )

    def backoff_s(self) -> float:
        """Wait before the next attempt after `failed_rpcs` failures (Kafka's
        ExponentialBackoff(100, 2, 120000, 0.02))."""
        wait = min(BACKOFF_INITIAL_S * 2 ** min(self.failed_rpcs, 32), BACKOFF_MAX_S)
        return wait * self._rng.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)

    async def run(self) -> None:
        """Register whenever the log does not hold this registration; until cancelled."""
        while True:
            if self.registered_in_log:
                self._changed = trio.Event()
                await self._changed.wait()
                continue
            response = await self._send(self.request(), REQUEST_TIMEOUT_S)
            if response is not None and response.error_code == ErrorCode.none:
                self.successful_rpcs += 1
                self.failed_rpcs = 0
                log.info("node %d: the active controller acknowledged our controller "
                         "registration", self.node_id)
                # Committed when acknowledged: the loader publishes it next. If it
                # was replaced meanwhile, the next image says so and we send again.
                if not self.registered_in_log:
                    self._changed = trio.Event()
                    with trio.move_on_after(REQUEST_TIMEOUT_S):
                        await self._changed.wait()
                continue
            wait = self.backoff_s()
            self.failed_rpcs += 1
            if response is None:
                log.info("node %d: controller registration got no answer; retrying in "
                         "%.1f s", self.node_id, wait)
            else:
                log.info("node %d: the controller refused our registration: %s (%s); "
                         "retrying in %.1f s", self.node_id, response.error_code.name,
                         response.error_message, wait)
            self._leader_known = trio.Event()
            with trio.move_on_after(wait):
                await self._leader_known.wait()
