"""The authorized-operations bit fields of Metadata, DescribeCluster,
DescribeGroups and DescribeTopicPartitions (KIP-430).

A client that asks gets a 32-bit field with bit `code` set for every ACL
operation it may perform on the resource: those of the resource type's
supported operations (AclEntry.supportedOperations in Kafka's source) that the
principal's ACLs allow (kraft.security.access.Access.operations; every one of
them without an authorizer, as Kafka). Where a client did not ask, the field
keeps the schema's default, NOT_REQUESTED. The cluster's field is 0 for a
principal without DESCRIBE on the cluster (`cluster`, Kafka's rule for
Metadata and DescribeCluster).
"""

from __future__ import annotations

from typing import Final

from kraft.net.registry import RequestContext
from kraft.security.access import CLUSTER_NAME, Access
from kraft.security.acl import SUPPORTED_OPERATIONS, ResourceType
from kraft.security.acl import AclOperation as Op

NOT_REQUESTED: Final = -(2**31)
"""Int.MinValue: the schema default, 'not requested'."""


CLUSTER: Final = SUPPORTED_OPERATIONS[ResourceType.CLUSTER]
"""The cluster's operations (every one of them is granted without an authorizer)."""


def bit_field(operations: frozenset[Op]) -> int:
    """The operations as Kafka's 32-bit field (Utils.to32BitField)."""
    field = 0
    for operation in operations:
        field |= 1 << operation
    return field


def authorized(requested: bool, supported: frozenset[Op]) -> int:
    """The field for one resource: every supported operation when the client
    asked (no authorizer), else NOT_REQUESTED."""
    return bit_field(supported) if requested else NOT_REQUESTED


def cluster(access: Access, ctx: RequestContext, requested: bool) -> int:
    """The cluster's field: NOT_REQUESTED, 0 without DESCRIBE on the cluster, else
    the cluster operations the principal may perform."""
    if not requested:
        return NOT_REQUESTED
    if not access.cluster(ctx, Op.DESCRIBE):
        return 0
    return access.operations(ctx, ResourceType.CLUSTER, CLUSTER_NAME)
