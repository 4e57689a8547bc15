"""The one ACL check every request handler calls (Kafka's AuthHelper).

`Access` is a node's authorizer as its handlers see it: `allowed(ctx, op,
resource type, name)`, `cluster(ctx, op)`, `filter(ctx, op, type, names)`,
`allowed_any(ctx, op, type)` (Kafka's authorizeByResourceType, which the
idempotent producer's InitProducerId uses) and `operations(ctx, type, name)`
(the authorized-operations bit fields of KIP-430). The principal is the
connection's (RequestContext.principal, `User:ANONYMOUS` when
unauthenticated), the host its peer address.

Without `authorizer.class.name` there is no authorizer and everything is
allowed, as on a Kafka broker without one. With StandardAuthorizer the ACLs
are those of the node's latest metadata image (`acls()` is read at every
check, so an ACL change takes effect once the node has replayed its record).

Kafka gives a node's own principal no special right: brokers and controllers
talk to each other as the principal of the listener they use, which must be
in `super.users` (or hold CLUSTER_ACTION and the rest through ACLs), exactly
as in Kafka. A denied inter-broker or controller request is logged with that
advice (`log_denied_node`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Final

from kraft.config import KafkaConfig
from kraft.metadata.image import AclsImage
from kraft.net.registry import RequestContext
from kraft.security.acl import SUPPORTED_OPERATIONS, AclOperation, ResourceType
from kraft.security.authorizer import Authorizer, parse_super_users

__all__ = ["CLUSTER_NAME", "STANDARD_AUTHORIZER", "Access", "peer_host"]

log = logging.getLogger("kraft.security.access")

CLUSTER_NAME: Final = "kafka-cluster"
STANDARD_AUTHORIZER: Final = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def peer_host(ctx: RequestContext) -> str:
    """The host an ACL's `host` is matched against: the peer's address without port."""
    host, sep, _port = ctx.peer.rpartition(":")
    return host.strip("[]") if sep else ctx.peer


def _everything(name: str) -> bool:
    return True


class Access:
    """A node's authorization decisions (module docstring)."""

    def __init__(self, authorizer: Authorizer | None,
                 acls: Callable[[], AclsImage] = AclsImage) -> None:
        self.authorizer = authorizer
        self._acls = acls
        self._warned: set[tuple[str, str, str]] = set()

    @classmethod
    def from_config(cls, config: KafkaConfig, acls: Callable[[], AclsImage]) -> Access:
        """StandardAuthorizer when `authorizer.class.name` names it, else none
        (kraft.security.listener.check refuses any other class at start-up)."""
        if config["authorizer.class.name"] != STANDARD_AUTHORIZER:
            return cls(None, acls)
        return cls(Authorizer(parse_super_users(config["super.users"]),
                              bool(config["allow.everyone.if.no.acl.found"])), acls)

    @property
    def enabled(self) -> bool:
        """True when an authorizer is configured (the ACL APIs are served)."""
        return self.authorizer is not None

    def _current(self) -> Authorizer | None:
        authorizer = self.authorizer
        if authorizer is not None:
            authorizer.update(self._acls())
        return authorizer

    def allowed(self, ctx: RequestContext, op: AclOperation, resource_type: ResourceType,
                name: str) -> bool:
        """May `ctx`'s principal perform `op` on the resource?"""
        authorizer = self._current()
        if authorizer is None:
            return True
        return authorizer.authorize(ctx.principal, peer_host(ctx), op, resource_type, name)

    def cluster(self, ctx: RequestContext, op: AclOperation) -> bool:
        """May `ctx`'s principal perform `op` on the cluster?"""
        return self.allowed(ctx, op, ResourceType.CLUSTER, CLUSTER_NAME)

    def filter(self, ctx: RequestContext, op: AclOperation, resource_type: ResourceType,
               names: Iterable[str]) -> set[str]:
        """The names among `names` on which `op` is allowed (Kafka's filterByAuthorized:
        each distinct name decided once)."""
        return {n for n in set(names) if self.allowed(ctx, op, resource_type, n)}

    def checker(self, ctx: RequestContext, op: AclOperation,
                resource_type: ResourceType = ResourceType.TOPIC) -> Callable[[str], bool]:
        """`name -> allowed(ctx, op, resource_type, name)`, each name decided once
        (for a request naming the same topic in many places)."""
        if self.authorizer is None:
            return _everything
        decided: dict[str, bool] = {}

        def check(name: str) -> bool:
            allowed = decided.get(name)
            if allowed is None:
                allowed = decided[name] = self.allowed(ctx, op, resource_type, name)
            return allowed

        return check

    def allowed_any(self, ctx: RequestContext, op: AclOperation,
                    resource_type: ResourceType) -> bool:
        """Is `op` allowed on at least one resource of the type (Kafka's
        authorizeByResourceType)?"""
        authorizer = self._current()
        if authorizer is None:
            return True
        return authorizer.authorize_any(ctx.principal, peer_host(ctx), op, resource_type)

    def operations(self, ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
        """The KIP-430 bit field: bit `op` set for every operation the resource type
        supports that `ctx`'s principal may perform on it."""
        field = 0
        for op in SUPPORTED_OPERATIONS[resource_type]:
            if self.allowed(ctx, op, resource_type, name):
                field |= 1 << op
        return field

    def log_denied_node(self, ctx: RequestContext, what: str) -> None:
        """A node-to-node request was refused: say how to fix it, once per principal,
        listener and API (nodes retry these many times a second)."""
        key = (ctx.principal, ctx.listener, what)
        if key in self._warned:
            return
        self._warned.add(key)
        log.warning("%s from %s on listener %s denied: %s lacks CLUSTER_ACTION on the "
                    "cluster; list it in super.users (or grant it by ACL)",
                    what, ctx.peer, ctx.listener, ctx.principal)
