"""SyncGroup (key 14), versions 0-5: receive this generation's assignment.

Every member sends SyncGroup after JoinGroup; the leader's carries the
assignment for all members. Requests park until the leader's assignment is
written to `__consumer_offsets` (acks=all), then each member gets its own
(an empty one if the leader left it out). A SyncGroup in a Stable group
returns the current assignment at once. v3 adds the group instance id, v5
the protocol type and name, which must be present (else
INCONSISTENT_GROUP_PROTOCOL, as Kafka) and match the group's.

Errors: COORDINATOR_NOT_AVAILABLE, INVALID_GROUP_ID, NOT_COORDINATOR,
REBALANCE_IN_PROGRESS (also while the coordinator loads: the rebalance is lost
and the member must rejoin), UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, and the write's error mapped
to COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.broker.group.types import SyncResult
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    version = header.api_version
    protocol_type = getattr(request, "protocol_type", None)
    protocol_name = getattr(request, "protocol_name", None)
    if version >= 5 and (protocol_type is None or protocol_name is None):
        result = SyncResult(ErrorCode.inconsistent_group_protocol)
    elif not broker.access.allowed(ctx, AclOperation.READ, ResourceType.GROUP,
                                   request.group_id):
        result = SyncResult(ErrorCode.group_authorization_failed)
    else:
        result = await api.sync_group(
            broker.group_coordinator,
            request.group_id,
            member_id=request.member_id,
            group_instance_id=getattr(request, "group_instance_id", None),
            generation_id=request.generation_id,
            protocol_type=protocol_type,
            protocol_name=protocol_name,
            assignments={a.member_id: a.assignment for a in request.assignments},
        )
    return build(response_class(header), throttle_time=timedelta(0), error_code=result.error,
                 protocol_type=result.protocol_type, protocol_name=result.protocol_name,
                 assignment=result.assignment)
