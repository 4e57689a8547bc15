"""ACL vocabulary with Kafka's ids, and filters (Kafka's AclBinding / AclBindingFilter).

An ACL: (resource type, resource name, pattern type) x (principal, host,
operation, permission). Pattern types: LITERAL (the name, or `*` for every
resource of the type) and PREFIXED (every name starting with it). Filters,
as DescribeAcls and DeleteAcls take them, use ANY for "any value" and null
strings for "any name"; a MATCH pattern filter finds every ACL that would
apply to the named resource (literal equal, the `*` literal, prefixes of it).

`validate_binding` holds Kafka's rules for a new ACL (CreateAcls): no
UNKNOWN/ANY values, a principal of the form `type:name`, a PREFIXED ACL
not on `*`, and an operation that makes sense for the resource type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "WILDCARD",
    "WILDCARD_PRINCIPAL",
    "AclBinding",
    "AclFilter",
    "AclOperation",
    "PatternType",
    "PermissionType",
    "ResourceType",
    "validate_binding",
]

WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"


class ResourceType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
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
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class PermissionType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


# Operations each resource type takes (Kafka's AclEntry.supportedOperations).
_OPS = AclOperation
SUPPORTED_OPERATIONS: dict[ResourceType, frozenset[AclOperation]] = {
    ResourceType.TOPIC: frozenset({_OPS.READ, _OPS.WRITE, _OPS.CREATE, _OPS.DESCRIBE,
                                   _OPS.DELETE, _OPS.ALTER, _OPS.DESCRIBE_CONFIGS,
                                   _OPS.ALTER_CONFIGS}),
    ResourceType.GROUP: frozenset({_OPS.READ, _OPS.DESCRIBE, _OPS.DELETE,
                                   _OPS.DESCRIBE_CONFIGS, _OPS.ALTER_CONFIGS}),
    ResourceType.CLUSTER: frozenset({_OPS.CREATE, _OPS.CLUSTER_ACTION, _OPS.DESCRIBE_CONFIGS,
                                     _OPS.ALTER_CONFIGS, _OPS.IDEMPOTENT_WRITE, _OPS.ALTER,
                                     _OPS.DESCRIBE}),
    ResourceType.TRANSACTIONAL_ID: frozenset({_OPS.DESCRIBE, _OPS.WRITE}),
    ResourceType.DELEGATION_TOKEN: frozenset({_OPS.DESCRIBE}),
    ResourceType.USER: frozenset({_OPS.CREATE_TOKENS, _OPS.DESCRIBE_TOKENS}),
}


@dataclass(frozen=True, slots=True)
class AclBinding:
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int


def validate_binding(b: AclBinding) -> str | None:
    """Why Kafka refuses to create `b` (INVALID_REQUEST's message), or None."""
    if b.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY) or \
            b.resource_type not in ResourceType._value2member_map_:
        return "Invalid resource type"
    if b.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return "Invalid pattern type"
    if b.operation in (AclOperation.UNKNOWN, AclOperation.ANY) or \
            b.operation not in AclOperation._value2member_map_:
        return "Invalid operation"
    if b.permission_type not in (PermissionType.DENY, PermissionType.ALLOW):
        return "Invalid permission type"
    if not b.resource_name:
        return "Resource name must not be empty"
    if b.pattern_type == PatternType.PREFIXED and b.resource_name == WILDCARD:
        return "Cannot use a PREFIXED pattern with the wildcard resource name"
    if b.resource_type == ResourceType.CLUSTER and b.resource_name != "kafka-cluster":
        return "The only valid name for the CLUSTER resource is kafka-cluster"
    kind, sep, name = b.principal.partition(":")
    if not sep or not kind or not name:
        return f"Could not parse principal from `{b.principal}` (no colon is present " \
               "separating the principal type from the principal name)"
    if not b.host:
        return "Host must not be empty"
    op = AclOperation(b.operation)
    if op != AclOperation.ALL and op not in SUPPORTED_OPERATIONS[ResourceType(b.resource_type)]:
        return f"ACL operation {op.name} is not supported for resource type " \
               f"{ResourceType(b.resource_type).name}"
    return None


@dataclass(frozen=True, slots=True)
class AclFilter:
    """DescribeAcls / DeleteAcls filter: ANY and None match everything."""

    resource_type: int
    resource_name: str | None
    pattern_type: int
    principal: str | None
    host: str | None
    operation: int
    permission_type: int

    def matches(self, b: AclBinding) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != b.resource_type:
            return False
        if not self._pattern_matches(b):
            return False
        if self.principal is not None and self.principal != b.principal:
            return False
        if self.host is not None and self.host != b.host:
            return False
        if self.operation != AclOperation.ANY and self.operation != b.operation:
            return False
        return self.permission_type in (PermissionType.ANY, b.permission_type)

    def _pattern_matches(self, b: AclBinding) -> bool:
        if self.pattern_type == PatternType.MATCH:
            if self.resource_name is None:
                return True
            if b.pattern_type == PatternType.LITERAL:
                return b.resource_name in (self.resource_name, WILDCARD)
            return (b.pattern_type == PatternType.PREFIXED
                    and self.resource_name.startswith(b.resource_name))
        if self.pattern_type != PatternType.ANY and self.pattern_type != b.pattern_type:
            return False
        return self.resource_name is None or self.resource_name == b.resource_name

    def is_valid(self) -> bool:
        """Kafka refuses filters with UNKNOWN values (INVALID_REQUEST)."""
        return (self.resource_type != ResourceType.UNKNOWN
                and self.pattern_type != PatternType.UNKNOWN
                and self.operation != AclOperation.UNKNOWN
                and self.permission_type != PermissionType.UNKNOWN
                and self.resource_type in ResourceType._value2member_map_
                and self.pattern_type in PatternType._value2member_map_
                and self.operation in AclOperation._value2member_map_
                and self.permission_type in PermissionType._value2member_map_)
