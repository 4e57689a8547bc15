"""The broker's client-facing APIs: one module per API key (kfake's layout).

Each module opens with its API key and version range (`API_KEY`,
`MIN_VERSION`, `MAX_VERSION`, optional `ADVERTISED_MIN`), notes on behaviour
and on what is deliberately not done, and an `async handle(broker, ctx,
header, request)` returning the kio response (or None for no response).
`register` puts every module on the client listener's registry, so
ApiVersions (computed from the registry) advertises exactly what is served.
Admin APIs that need the controller are relayed by `admin` (one table, the
same code for all of them). The group APIs (JoinGroup ... DeleteGroups,
OffsetCommit/Fetch/Delete) share one GroupCoordinator
(kraft.broker.group.coordinator), created here, set as
`broker.group_coordinator` and run as one of `broker.services`.
"""

from __future__ import annotations

from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING

from kraft.broker.group.coordinator import GroupCoordinator
from kraft.broker.handlers import (
    acls,
    admin,
    delete_groups,
    delete_records,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_producers,
    describe_topic_partitions,
    fetch,
    find_coordinator,
    heartbeat,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sync_group,
)
from kraft.controller.quorum_controller import METADATA_VERSION_LEVEL
from kraft.metadata.records import METADATA_VERSION
from kraft.net import api_versions
from kraft.net.registry import ApiRegistry

if TYPE_CHECKING:
    from kraft.broker.server import BrokerServer

MODULES: tuple[ModuleType, ...] = (
    produce,
    fetch,
    list_offsets,
    metadata,
    find_coordinator,
    offset_for_leader_epoch,
    init_producer_id,
    describe_cluster,
    describe_configs,
    describe_log_dirs,
    offset_commit,
    offset_fetch,
    join_group,
    heartbeat,
    leave_group,
    sync_group,
    describe_groups,
    list_groups,
    delete_groups,
    offset_delete,
    delete_records,
    describe_producers,
    describe_topic_partitions,
)


def register(registry: ApiRegistry, broker: BrokerServer) -> None:
    """Register ApiVersions and every handler module for `broker`, and create the
    broker's group coordinator."""
    coordinator = GroupCoordinator(broker)
    broker.group_coordinator = coordinator
    broker.services.append(coordinator)

    def features() -> api_versions.Features:
        image = broker.image
        level = image.features.metadata_version
        return api_versions.Features(
            supported=((METADATA_VERSION, METADATA_VERSION_LEVEL, METADATA_VERSION_LEVEL),),
            finalized_epoch=max(image.provenance.offset, -1),
            finalized=((METADATA_VERSION, level, level),) if level else (),
        )

    api_versions.register(registry, features)
    for module in MODULES:
        registry.register(
            module.API_KEY,
            module.MIN_VERSION,
            module.MAX_VERSION,
            partial(module.handle, broker),
            advertised_min=getattr(module, "ADVERTISED_MIN", None),
        )
    admin.register(registry, broker)
    acls.register(registry, broker)
