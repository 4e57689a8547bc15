"""The authorized-operations bit fields of Metadata, DescribeCluster,
DescribeGroups and DescribeTopicPartitions (KIP-430).

A client that asks gets a 32-bit field with bit `code` set for every ACL
operation it may perform on the resource. With no authorizer configured Kafka
answers every operation the resource type supports (AclEntry.supportedOperations
in Kafka's source); so does kraft, which has no authorizer. Where a client did
not ask, the field keeps the schema's default, NOT_REQUESTED.
"""

from __future__ import annotations

import enum
from typing import Final

NOT_REQUESTED: Final = -(2**31)
"""Int.MinValue: the schema default, 'not requested'."""


class AclOperation(enum.IntEnum):
    """Kafka's AclOperation codes (the bit positions of the fields)."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


_Op = AclOperation
TOPIC: Final = frozenset({_Op.READ, _Op.WRITE, _Op.CREATE, _Op.DESCRIBE, _Op.DELETE, _Op.ALTER,
                          _Op.DESCRIBE_CONFIGS, _Op.ALTER_CONFIGS})
GROUP: Final = frozenset({_Op.READ, _Op.DESCRIBE, _Op.DELETE, _Op.DESCRIBE_CONFIGS,
                          _Op.ALTER_CONFIGS})
CLUSTER: Final = frozenset({_Op.CREATE, _Op.CLUSTER_ACTION, _Op.DESCRIBE_CONFIGS,
                            _Op.ALTER_CONFIGS, _Op.IDEMPOTENT_WRITE, _Op.ALTER, _Op.DESCRIBE})


def bit_field(operations: frozenset[AclOperation]) -> int:
    """The operations as Kafka's 32-bit field (Utils.to32BitField)."""
    field = 0
    for operation in operations:
        field |= 1 << operation
    return field


def authorized(requested: bool, supported: frozenset[AclOperation]) -> int:
    """The field for one resource: every supported operation when the client
    asked (no authorizer), else NOT_REQUESTED."""
    return bit_field(supported) if requested else NOT_REQUESTED
