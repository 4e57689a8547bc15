"""JoinGroup (key 11), versions 0-9: join a classic group and wait for the rebalance.

The request parks until the group's rebalance completes (or fails); the
answer gives the generation, the selected protocol, the leader and, to the
leader only, every member's protocol metadata (kraft.broker.group).
v0 has no rebalance timeout: the session timeout serves as one, as in Kafka.
From v4 a new dynamic member first gets MEMBER_ID_REQUIRED with its member
id and must join again with it (KIP-394); static members (group instance id,
v5+, KIP-345) are exempt. v7+ answers the protocol type and a nullable
protocol name (older versions get "" for none), v8 adds the client's reason
(only for logs), v9 lets a rejoining static leader skip the assignment
(KIP-814). The member's client host is the peer address, written "/host" as
Kafka does.

Errors: COORDINATOR_NOT_AVAILABLE, INVALID_GROUP_ID (empty), INVALID_SESSION_TIMEOUT
(outside group.min/max.session.timeout.ms), NOT_COORDINATOR,
COORDINATOR_LOAD_IN_PROGRESS, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
INCONSISTENT_GROUP_PROTOCOL, MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS (a newer
JoinGroup of the same member superseded this one).

Not done: group.max.size (unbounded, Kafka's default); KIP-848 groups.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.broker.group.types import JoinRequest, JoinResult
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType

_MS = timedelta(milliseconds=1)


def client_host(peer: str) -> str:
    """Kafka's clientHost: the peer's address as InetAddress.toString, "/host"."""
    host = peer.rpartition(":")[0] or peer
    return "/" + host.strip("[]")


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    version = header.api_version
    session_ms = request.session_timeout // _MS
    rebalance_ms = request.rebalance_timeout // _MS if version >= 1 else session_ms
    instance_id = getattr(request, "group_instance_id", None)
    join = JoinRequest(
        member_id=request.member_id,
        group_instance_id=instance_id,
        client_id=header.client_id or "",
        client_host=client_host(ctx.peer),
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=max(rebalance_ms, 0),
        protocol_type=request.protocol_type,
        protocols=tuple((p.name, p.metadata) for p in request.protocols),
        require_known_member_id=version >= 4 and instance_id is None,
        supports_skip_assignment=version >= 9,
    )
    if broker.access.allowed(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id):
        result = await api.join_group(broker.group_coordinator, request.group_id, join)
    else:
        result = JoinResult(ErrorCode.group_authorization_failed, "")
    cls = response_class(header)
    member_cls = nested(cls, "JoinGroupResponseMember")
    return build(
        cls,
        throttle_time=timedelta(0),
        error_code=result.error,
        generation_id=result.generation_id,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name if version >= 7 else result.protocol_name or "",
        leader=result.leader,
        skip_assignment=result.skip_assignment,
        member_id=result.member_id,
        members=tuple(build(member_cls, member_id=m.member_id,
                            group_instance_id=m.group_instance_id, metadata=m.metadata)
                      for m in result.members),
    )
