"""BrokerContext: what the broker's request handlers see, typed.

The handlers of kraft/broker/handlers (one module per API) take this object
as their first argument instead of the whole BrokerServer: the broker's
identity and config, its metadata image (`image`, `wait_for_image`), and the
parts that serve requests: the log manager (log dirs), the replica manager
(partitions, their logs and the purgatory where requests wait for them),
the ISR manager (follower fetches may expand an ISR), the fetch session
cache, the producer-id blocks, the channel to the active controller, the
group coordinator and the transaction coordinator (kraft.broker.coordinators:
running before the first request of an API that uses them, see
kraft.broker.handlers.COORDINATED); and `access`, the ACL
checks every handler makes (kraft.security.access). BrokerServer builds it
once; nothing in it is replaced afterwards, so a handler may keep references
across awaits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from kraft.broker.coordinators import OnDemand
from kraft.security.access import Access

if TYPE_CHECKING:
    from kraft.broker.controller_channel import ControllerChannel
    from kraft.broker.fetch_session import FetchSessionCache
    from kraft.broker.group.coordinator import GroupCoordinator
    from kraft.broker.isr import IsrManager
    from kraft.broker.log_manager import LogManager
    from kraft.broker.metadata_cache import MetadataCache
    from kraft.broker.producer_ids import ProducerIdManager
    from kraft.broker.replica_manager import ReplicaManager
    from kraft.broker.replication_quota import ReplicationQuota
    from kraft.broker.txn.coordinator import TransactionCoordinator
    from kraft.config import KafkaConfig
    from kraft.metadata.image import MetadataImage

__all__ = ["BrokerContext", "BrokerSession"]


class BrokerSession(Protocol):
    """What handlers may ask the broker lifecycle (kraft.broker.lifecycle)."""

    @property
    def session_valid_until(self) -> float | None: ...

    def presumed_fenced(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class BrokerContext:
    """The broker as its request handlers see it (module docstring)."""

    node_id: int
    cluster_id: str
    config: KafkaConfig
    metadata: MetadataCache
    log_manager: LogManager
    replica_manager: ReplicaManager
    isr: IsrManager
    fetch_sessions: FetchSessionCache
    producer_ids: ProducerIdManager
    channel: ControllerChannel
    group: OnDemand[GroupCoordinator]  # running before a handler using it runs
    txn: OnDemand[TransactionCoordinator]  # (kraft.broker.handlers.COORDINATED)
    session: BrokerSession | None = None  # the broker's lifecycle: is it presumed fenced?
    # The ACL checks (kraft.security.access); none configured: everything allowed.
    access: Access = field(default_factory=lambda: Access(None))
    # The leader side's replication throttle (kraft.broker.replication_quota).
    leader_quota: ReplicationQuota | None = None

    @property
    def group_coordinator(self) -> GroupCoordinator:
        return self.group.get()

    @property
    def txn_coordinator(self) -> TransactionCoordinator:
        return self.txn.get()

    @property
    def image(self) -> MetadataImage:
        """The latest image the broker has applied (replaced, never changed)."""
        return self.metadata.image

    async def wait_for_image(
        self, predicate: Callable[[MetadataImage], bool], timeout_s: float
    ) -> bool:
        """Wait until the image satisfies `predicate`; False if not within `timeout_s`."""
        return await self.metadata.wait_for(predicate, timeout_s)
