"""BrokerServer: the broker role of a node, composed from its parts.

Assembled by kraft/node.py, which serves the client listeners with this
object's registry. It builds, each with just what it needs, the metadata
cache (the latest image; kraft.broker.metadata_cache), the log manager (log
dirs and the logs in them), the replica manager (which partitions it leads
and follows, with the purgatory where requests wait for them), the replica
fetchers and ISR manager, the lifecycle manager (registration and
heartbeats), the producer-id blocks, the fetch session cache, the group
coordinator and the transaction coordinator; it uses the channel to the active
controller it is given. The coordinators are imported, built and started
when first needed (kraft.broker.coordinators). The request handlers (kraft/broker/handlers, one
module per API, and the forwarded admin APIs) get a BrokerContext (kraft.broker.context) naming the
parts they may use, not this object.

It publishes metadata images from the loader to the replica manager, then to
the metadata cache, then to the services (parts that follow the metadata and
run in the background: the group coordinator and the transaction
coordinator).

Readiness: the broker tells the controller it is ready to be unfenced once
its image holds its own current registration and the replica manager has
applied that image (its logs are open). `lifecycle.unfenced` is set when the
controller agrees; dev mode prints `ready` then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio
from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.static.primitive import i64

from kraft.broker import handlers
from kraft.broker.context import BrokerContext
from kraft.broker.controller_channel import ControllerChannel
from kraft.broker.coordinators import OnDemand
from kraft.broker.fetch_session import FetchSessionCache
from kraft.broker.fetcher import ReplicaFetcherManager
from kraft.broker.internal_topics import GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC
from kraft.broker.isr import IsrManager
from kraft.broker.lifecycle import BrokerLifecycleManager
from kraft.broker.log_manager import LogManager
from kraft.broker.metadata_cache import MetadataCache
from kraft.broker.producer_ids import ProducerIdManager
from kraft.broker.replica_manager import ReplicaManager
from kraft.broker.replication_quota import ReplicationQuota
from kraft.config import KafkaConfig
from kraft.metadata.image import MetadataImage
from kraft.metadata.loader import MetadataUpdate
from kraft.net.registry import ApiRegistry
from kraft.raft.types import LeaderAndEpoch
from kraft.security import listener as security_listener
from kraft.security import scram
from kraft.security.access import Access
from kraft.security.scram import ScramCredential

if TYPE_CHECKING:
    from kraft.broker.group.coordinator import GroupCoordinator
    from kraft.broker.txn.coordinator import TransactionCoordinator

log = logging.getLogger("kraft.broker")

Endpoint = tuple[str, str, int]  # listener name, advertised host, port
BROKER_EPOCH_FILE = "broker-epoch"


class BrokerService(Protocol):
    """A part of the broker that follows the metadata and runs in the background."""

    def publish(self, update: MetadataUpdate) -> None:
        """Called after the replica manager applied `update` (caught up only)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Run until cancelled; `task_status.started()` once ready."""


class BrokerServer:
    def __init__(
        self,
        config: KafkaConfig,
        cluster_id: str,
        channel: ControllerChannel,
        advertised: list[Endpoint],
        metadata_offset: Callable[[], int],
    ) -> None:
        self.config = config
        self.node_id: int = config.node_id
        self.cluster_id = cluster_id
        self.channel = channel
        self.advertised = advertised
        self.metadata = MetadataCache()
        self.metadata_offset = metadata_offset
        self.lifecycle = BrokerLifecycleManager(
            self.node_id,
            cluster_id,
            channel,
            advertised,
            metadata_offset,
            heartbeat_interval_ms=config.broker_heartbeat_interval_ms,
            session_timeout_ms=(config.broker_session_timeout_ms
                                if config.kraft_broker_session_self_fence_enable else None),
            rack=config.broker_rack,
            epoch_file=Path(config.log_dirs[0]) / BROKER_EPOCH_FILE,
            security_protocols={name: security_listener.security_protocol(config, name)
                                for name, _, _ in advertised},
        )
        broker_epoch = lambda: self.lifecycle.broker_epoch  # noqa: E731
        current_image = lambda: self.metadata.image  # noqa: E731
        self.isr = IsrManager(self.node_id, channel, broker_epoch, current_image,
                              config.replica_lag_time_max_ms,
                              config.kraft_replica_fetch_silence_max_ms)
        self.leader_quota = ReplicationQuota(self.node_id, "leader", current_image,
                                             trio.current_time)
        self.fetchers = ReplicaFetcherManager(
            self.node_id, broker_epoch, current_image, inter_broker_listener(config),
            lambda partition: self.log_manager.checkpoint_recovery_points(),
            max_wait_ms=config.replica_fetch_wait_max_ms,
            min_bytes=config.replica_fetch_min_bytes,
            partition_max_bytes=config.replica_fetch_max_bytes,
            backoff_ms=config.replica_fetch_backoff_ms,
            response_timeout_ms=config.kraft_replica_fetch_response_timeout_ms,
            security=security_listener.inter_broker_client_security(
                config, inter_broker_listener(config)),
            quota=ReplicationQuota(self.node_id, "follower", current_image, trio.current_time),
        )
        self.log_manager = LogManager(config)
        self.replica_manager = ReplicaManager(config, self.node_id, self.log_manager,
                                              self.fetchers, self.isr)
        self.fetch_sessions = FetchSessionCache(
            config.max_incremental_fetch_session_cache_slots)
        self.producer_ids = ProducerIdManager(self._allocate_producer_ids)
        # Built, and run, when first needed (kraft.broker.coordinators).
        self.group_coordinator = OnDemand(GROUP_METADATA_TOPIC, self._group_coordinator)
        self.txn_coordinator = OnDemand(TRANSACTION_STATE_TOPIC, self._txn_coordinator)
        self.services: list[BrokerService] = [self.group_coordinator, self.txn_coordinator]
        self.context = BrokerContext(
            node_id=self.node_id,
            cluster_id=cluster_id,
            config=config,
            metadata=self.metadata,
            log_manager=self.log_manager,
            replica_manager=self.replica_manager,
            isr=self.isr,
            fetch_sessions=self.fetch_sessions,
            producer_ids=self.producer_ids,
            channel=channel,
            group=self.group_coordinator,
            txn=self.txn_coordinator,
            session=self.lifecycle,
            access=Access.from_config(config, lambda: self.metadata.image.acls),
            leader_quota=self.leader_quota,
        )
        self.registry = ApiRegistry()
        handlers.register(self.registry, self.context)
        self._background_scope: trio.CancelScope | None = None
        self._background_done = trio.Event()

    def _group_coordinator(self) -> GroupCoordinator:
        from kraft.broker.group.coordinator import CoordinatorConfig, GroupCoordinator

        return GroupCoordinator(self.node_id, CoordinatorConfig.from_config(self.config),
                                self.replica_manager, lambda: self.metadata.image)

    def _txn_coordinator(self) -> TransactionCoordinator:
        from kraft.broker.txn.coordinator import TransactionCoordinator, TxnConfig
        from kraft.broker.txn.markers import MarkerSender

        current_image = lambda: self.metadata.image  # noqa: E731
        return TransactionCoordinator(
            self.node_id, TxnConfig.from_config(self.config), self.replica_manager,
            current_image, self.producer_ids,
            MarkerSender(self.node_id, current_image, inter_broker_listener(self.config)))

    @property
    def image(self) -> MetadataImage:
        """The latest image the broker has applied."""
        return self.metadata.image

    def scram_credential(self, mechanism: str, user: str) -> ScramCredential | None:
        """`user`'s SCRAM credential for `mechanism` in the latest image (SASL listeners)."""
        data = self.metadata.image.scram.get(scram.MECHANISMS[mechanism][1], user)
        if data is None:
            return None
        return ScramCredential(data.salt, data.stored_key, data.server_key, data.iterations)

    # --- metadata publisher -------------------------------------------------------------

    def publish(self, update: MetadataUpdate) -> None:
        if not update.caught_up:
            return
        self.replica_manager.apply(update)
        self.metadata.update(update.image)
        for service in self.services:
            service.publish(update)
        registration = update.image.cluster.brokers.get(self.node_id)
        if (
            registration is not None
            and registration.incarnation_id == self.lifecycle.incarnation_id
            and not self.lifecycle.ready_to_unfence.is_set()
        ):
            self.lifecycle.ready_to_unfence.set()
            self.lifecycle.wake()

    def leader_changed(self, leader: LeaderAndEpoch) -> None:
        pass

    # --- controller RPCs ---------------------------------------------------------------

    async def _allocate_producer_ids(self) -> tuple[int, int]:
        # Loaded on the first InitProducerId, not at start-up.
        from kio.schema.allocate_producer_ids.v0.request import AllocateProducerIdsRequest

        await self.lifecycle.registered.wait()
        response = await self.channel.send(
            AllocateProducerIdsRequest(
                broker_id=BrokerId(self.node_id), broker_epoch=i64(self.lifecycle.broker_epoch)
            ),
            timeout_s=5.0,
        )
        if response.error_code != ErrorCode.none:
            raise RuntimeError(f"AllocateProducerIds failed: {response.error_code.name}")
        return response.producer_id_start, response.producer_id_len

    # --- running -------------------------------------------------------------------------

    async def run(self, nursery: trio.Nursery) -> None:
        """Start the background tasks (in a nursery of their own inside `nursery`,
        so `shutdown` can stop them before the logs close)."""
        await nursery.start(self._background)

    async def _background(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                          ) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._background_scope = nursery.cancel_scope
                await nursery.start(self.producer_ids.run)
                await nursery.start(self.fetchers.run)
                await nursery.start(self.isr.run)
                for service in self.services:
                    await nursery.start(service.run)
                nursery.start_soon(self.lifecycle.run)
                await nursery.start(self.log_manager.run)
                nursery.start_soon(self.log_manager.run_cleaner)
                await nursery.start(self.replica_manager.run)
                task_status.started()
        finally:
            self._background_done.set()

    async def shutdown(self, timeout_s: float,
                       stop_serving: Callable[[], None] = lambda: None) -> None:
        """Controlled shutdown (leadership moves away first); then `stop_serving`
        (the node closes its client listeners); then stop fetching, cleaning and
        coordinating (a worker thread still reading a log is waited for), then
        flush and close the logs.

        Clients are cut off right after the controlled shutdown, as Kafka's
        stopProcessingRequests: from then on this broker is fenced, and a
        Metadata answer from it would list no live broker at all (librdkafka,
        told that, drops its only bootstrap broker and never recovers)."""
        try:
            agreed = await self.lifecycle.controlled_shutdown(timeout_s)
            if not agreed:
                log.warning("node %d: controlled shutdown not acknowledged within %.1f s",
                            self.node_id, timeout_s)
        finally:
            stop_serving()
            # Whatever happened above, the logs are flushed and closed, and never
            # while a background task may still touch them.
            with trio.CancelScope(shield=True):
                if self._background_scope is not None:
                    self._background_scope.cancel()
                    await self._background_done.wait()
                self.log_manager.shutdown()


def inter_broker_listener(config: KafkaConfig) -> str:
    """The listener brokers replicate over (kraft.security.listener.inter_broker_listener)."""
    return security_listener.inter_broker_listener(config)
