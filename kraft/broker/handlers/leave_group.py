"""LeaveGroup (key 13), versions 0-5: members leave a group, which rebalances.

v0-2 name one member; v3+ a batch (KIP-345), each with its own error, and a
member may be named by group instance id alone (member id "") to remove a
static member administratively. v0-2 report the first member error as the
top-level error, as Kafka's LeaveGroupResponse does. v5 adds a reason (logs
only). A pending member (KIP-394) that leaves is simply forgotten.

Errors: COORDINATOR_NOT_AVAILABLE, INVALID_GROUP_ID, NOT_COORDINATOR,
COORDINATOR_LOAD_IN_PROGRESS (top level); UNKNOWN_MEMBER_ID (also for every
member of an unknown group), FENCED_INSTANCE_ID (per member).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    version = header.api_version
    cls = response_class(header)
    if version < 3:
        members = [(request.member_id, None)]
    else:
        members = [(m.member_id, m.group_instance_id) for m in request.members]
    if broker.access.allowed(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id):
        error, errors = api.leave_group(broker.group_coordinator, request.group_id, members)
    else:  # Kafka answers the whole request, no member results
        error, errors, members = ErrorCode.group_authorization_failed, [], []
    if version < 3:
        if error == ErrorCode.none:
            error = next((e for e in errors if e != ErrorCode.none), ErrorCode.none)
        return build(cls, throttle_time=timedelta(0), error_code=error)
    member_cls = nested(cls, "MemberResponse")
    return build(cls, throttle_time=timedelta(0), error_code=error, members=tuple(
        build(member_cls, member_id=member_id, group_instance_id=instance_id, error_code=e)
        for (member_id, instance_id), e in zip(members, errors, strict=False)
    ))
