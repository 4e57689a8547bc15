"""Heartbeat (key 12), versions 0-4: keep a member's session alive.

NONE while the group is Stable or CompletingRebalance; REBALANCE_IN_PROGRESS
while it rebalances (the member must rejoin). Every valid heartbeat restarts
the member's session.timeout.ms. While the coordinator is still loading the
group's partition the answer is NONE (Kafka answers blindly too). v3 adds
the group instance id.

Errors: COORDINATOR_NOT_AVAILABLE, INVALID_GROUP_ID, NOT_COORDINATOR,
UNKNOWN_MEMBER_ID (also for an unknown group or an Empty one),
FENCED_INSTANCE_ID, ILLEGAL_GENERATION.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    if not broker.access.allowed(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id):
        return build(response_class(header), throttle_time=timedelta(0),
                     error_code=ErrorCode.group_authorization_failed)
    error = api.heartbeat(
        broker.group_coordinator,
        request.group_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        generation_id=request.generation_id,
    )
    return build(response_class(header), throttle_time=timedelta(0), error_code=error)
