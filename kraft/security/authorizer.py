"""StandardAuthorizer's decisions over the ACLs of a metadata image.

`authorize(principal, host, operation, resource type, name)`, as Kafka's
StandardAuthorizerData decides:

1. A super user (`super.users`, `User:a;User:b`) may do everything.
2. The ACLs that apply: same resource type; a LITERAL ACL on the name or on
   `*`, or a PREFIXED ACL that the name starts with; principal equal or
   `User:*`; host equal or `*`.
3. A DENY that applies to the operation (or ALL) denies: DENY beats ALLOW.
4. An ALLOW of the operation, of ALL, or of an operation that implies it
   allows: DESCRIBE is implied by READ, WRITE, DELETE and ALTER;
   DESCRIBE_CONFIGS by ALTER_CONFIGS.
5. Otherwise denied, except that with `allow.everyone.if.no.acl.found` a
   resource that no ACL at all applies to is open to everyone.

The ACLs are indexed per image (rebuilt when the broker or controller applies
an image with other ACLs), so a check costs a dictionary lookup for the name
and one per distinct PREFIXED length not longer than it, however many ACLs
there are. An ACL change takes effect on a node once it has
replayed the record.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kraft.metadata.image import AclEntry, AclsImage
from kraft.security.acl import (
    WILDCARD,
    WILDCARD_PRINCIPAL,
    AclOperation,
    PatternType,
    PermissionType,
)

__all__ = ["Authorizer", "parse_super_users"]

_IMPLIES: dict[AclOperation, frozenset[int]] = {
    AclOperation.DESCRIBE: frozenset({AclOperation.DESCRIBE, AclOperation.READ,
                                      AclOperation.WRITE, AclOperation.DELETE,
                                      AclOperation.ALTER, AclOperation.ALL}),
    AclOperation.DESCRIBE_CONFIGS: frozenset({AclOperation.DESCRIBE_CONFIGS,
                                              AclOperation.ALTER_CONFIGS, AclOperation.ALL}),
}


def parse_super_users(value: str | None) -> frozenset[str]:
    """`super.users` (principals separated by ';') as a set."""
    return frozenset(p.strip() for p in (value or "").split(";") if p.strip())


@dataclass
class _Index:
    literal: dict[tuple[int, str], list[AclEntry]]
    prefixed: dict[tuple[int, str], list[AclEntry]]  # by (resource type, prefix)
    prefix_lengths: dict[int, tuple[int, ...]]  # the prefixes' lengths, per resource type


class Authorizer:
    """Decides requests against the ACLs of the latest image it was given."""

    def __init__(self, super_users: frozenset[str], allow_if_no_acl: bool) -> None:
        self.super_users = super_users
        self.allow_if_no_acl = allow_if_no_acl
        self._acls: AclsImage | None = None
        self._index = _Index({}, {}, {})

    def update(self, acls: AclsImage) -> None:
        """Use the ACLs of a new image (cheap when they did not change)."""
        if acls is self._acls:
            return
        literal: dict[tuple[int, str], list[AclEntry]] = defaultdict(list)
        prefixed: dict[tuple[int, str], list[AclEntry]] = defaultdict(list)
        lengths: dict[int, set[int]] = defaultdict(set)
        for acl in acls.acls.values():
            if acl.pattern_type == PatternType.LITERAL:
                literal[(acl.resource_type, acl.resource_name)].append(acl)
            elif acl.pattern_type == PatternType.PREFIXED:
                prefixed[(acl.resource_type, acl.resource_name)].append(acl)
                lengths[acl.resource_type].add(len(acl.resource_name))
        self._acls = acls
        self._index = _Index(dict(literal), dict(prefixed),
                             {t: tuple(sorted(ls)) for t, ls in lengths.items()})

    def _applicable(self, resource_type: int, name: str) -> list[AclEntry]:
        index = self._index
        found = list(index.literal.get((resource_type, name), ()))
        if name != WILDCARD:
            found += index.literal.get((resource_type, WILDCARD), ())
        for length in index.prefix_lengths.get(resource_type, ()):
            if length > len(name):
                break
            found += index.prefixed.get((resource_type, name[:length]), ())
        return found

    def authorize(self, principal: str, host: str, operation: AclOperation,
                  resource_type: int, name: str) -> bool:
        if principal in self.super_users:
            return True
        acls = self._applicable(resource_type, name)
        allowed = False
        implied = _IMPLIES.get(operation, frozenset({operation, AclOperation.ALL}))
        for acl in acls:
            if acl.principal not in (principal, WILDCARD_PRINCIPAL):
                continue
            if acl.host not in (host, WILDCARD):
                continue
            if acl.permission_type == PermissionType.DENY:
                if acl.operation in (operation, AclOperation.ALL):
                    return False
            elif acl.operation in implied:
                allowed = True
        if allowed:
            return True
        return self.allow_if_no_acl and not acls

    def authorize_any(self, principal: str, host: str, operation: AclOperation,
                      resource_type: int) -> bool:
        """Is `operation` allowed on some resource of `resource_type` (Kafka's
        Authorizer.authorizeByResourceType): an ALLOW of the operation (or ALL) for
        the principal that no DENY of it covers (a DENY on the literal `*` covers
        everything; a LITERAL DENY its name; a PREFIXED DENY every name and prefix
        starting with it). With allow.everyone.if.no.acl.found, also when no ACL
        of the type exists at all."""
        if principal in self.super_users:
            return True
        entries = [a for a in (self._acls.acls.values() if self._acls else ())
                   if a.resource_type == resource_type]
        if not entries:
            return self.allow_if_no_acl
        allows: list[tuple[int, str]] = []
        denies: list[tuple[int, str]] = []
        for acl in entries:
            if acl.principal not in (principal, WILDCARD_PRINCIPAL):
                continue
            if acl.host not in (host, WILDCARD):
                continue
            if acl.operation not in (operation, AclOperation.ALL):
                continue
            pattern = (acl.pattern_type, acl.resource_name)
            (denies if acl.permission_type == PermissionType.DENY else allows).append(pattern)
        if (PatternType.LITERAL, WILDCARD) in denies:
            return False
        deny_prefixes = [name for kind, name in denies if kind == PatternType.PREFIXED]
        deny_literals = {name for kind, name in denies if kind == PatternType.LITERAL}
        for kind, name in allows:
            if any(name.startswith(prefix) for prefix in deny_prefixes):
                continue
            if kind == PatternType.LITERAL and name in deny_literals:
                continue
            return True
        return False

