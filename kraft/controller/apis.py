"""ControllerApis: the requests the active controller serves on the controller listener.

Broker lifecycle (BrokerRegistration 62, BrokerHeartbeat 63, UnregisterBroker
64), replication (AlterPartition 56), producer ids (AllocateProducerIds 67)
and the admin requests brokers forward (CreateTopics 19, DeleteTopics 20,
CreatePartitions 37, AlterConfigs 33, IncrementalAlterConfigs 44, ElectLeaders
43, AlterPartitionReassignments 45, ListPartitionReassignments 46). Each
request becomes one command on the QuorumController's queue; a controller
that is not active answers NOT_CONTROLLER, and the sender retries on the
active one. The raft RPCs and DescribeQuorum on the same listener are the
raft driver's (kraft.raft.driver.RaftNode.register).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import (
    alter_partition,
    cluster,
    configs,
    elect_leaders,
    producer_ids,
    reassignments,
    topics,
)
from kraft.controller.error_responses import error_response
from kraft.controller.quorum_controller import QuorumController
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage
from kraft.net.codec import RequestHeader
from kraft.net.registry import ApiRegistry
from kraft.net.server import RequestContext

Command = Callable[..., ControllerResult[Any]]


def _plain(command: Command) -> Callable[[QuorumController, Any, int], Any]:
    """A command of signature (image, request, version, ctx)."""
    return lambda controller, request, version: (
        lambda image, ctx: command(image, request, version, ctx)
    )


def _with_heartbeats(command: Command) -> Callable[[QuorumController, Any, int], Any]:
    """A command that also reads and updates the heartbeat soft state."""
    return lambda controller, request, version: (
        lambda image, ctx: command(image, request, version, ctx, controller.heartbeats)
    )


# api key -> (min version, max version, command factory)
APIS: dict[int, tuple[int, int, Callable[[QuorumController, Any, int], Any]]] = {
    62: (0, 4, _with_heartbeats(cluster.register_broker)),
    63: (0, 2, _with_heartbeats(cluster.broker_heartbeat)),
    64: (0, 0, _with_heartbeats(cluster.unregister_broker)),
    56: (2, 3, _plain(alter_partition.alter_partition)),
    67: (0, 0, _plain(producer_ids.allocate_producer_ids)),
    19: (2, 7, _plain(topics.create_topics)),
    20: (1, 6, _plain(topics.delete_topics)),
    37: (0, 3, _plain(topics.create_partitions)),
    33: (0, 2, _plain(configs.alter_configs)),
    44: (0, 1, _plain(configs.incremental_alter_configs)),
    43: (0, 2, _plain(elect_leaders.elect_leaders)),
    45: (0, 1, _plain(reassignments.alter_partition_reassignments)),
    46: (0, 0, _plain(reassignments.list_partition_reassignments)),
}


async def _handle(
    controller: QuorumController,
    factory: Callable[[QuorumController, Any, int], Callable[[MetadataImage, ControllerContext],
                                                           ControllerResult[Any]]],
    ctx: RequestContext,
    header: RequestHeader,
    request: Any,
) -> Any:
    version = header.api_version
    command = factory(controller, request, version)
    return await controller.run_command(
        command,
        lambda: error_response(header.api_key, version, request, ErrorCode.not_controller),
    )


def register(registry: ApiRegistry, controller: QuorumController) -> None:
    """Serve the controller APIs on the controller listener's registry."""
    for api_key, (lo, hi, factory) in APIS.items():
        registry.register(api_key, lo, hi, partial(_handle, controller, factory))
