"""DescribeGroups (key 15), versions 0-5: state, protocol and members of groups.

Per group: its state, protocol type, the selected protocol and each member's
client id, client host ("/host"), group instance id (v4+), and, only while
the group is Stable, each member's protocol metadata and assignment (as
Kafka). A group that does not exist is answered NONE with state "Dead"
(v6 would say GROUP_ID_NOT_FOUND; not served). Errors
(COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS)
come with empty state and protocol fields, as Kafka's groupError.

Authorized operations (v3+, when asked for) are every operation a group
supports, as Kafka answers without an authorizer; groups in error keep
"not requested", as Kafka's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker import authorized_operations as ops
from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    group_cls = nested(cls, "DescribedGroup")
    member_cls = nested(cls, "DescribedGroupMember")
    described = []
    wants_ops = getattr(request, "include_authorized_operations", False)
    for group_id in request.groups:
        if not broker.access.allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            described.append(build(group_cls, error_code=ErrorCode.group_authorization_failed,
                                   group_id=group_id, group_state="", protocol_type="",
                                   protocol_data="", members=(),
                                   authorized_operations=ops.NOT_REQUESTED))
            continue
        error, summary = api.describe_group(broker.group_coordinator, group_id)
        ok = error == ErrorCode.none
        described.append(build(
            group_cls,
            error_code=error,
            group_id=group_id,
            group_state=summary.state if ok else "",
            protocol_type=summary.protocol_type if ok else "",
            protocol_data=summary.protocol if ok else "",
            members=tuple(build(member_cls, member_id=m.member_id,
                                group_instance_id=m.group_instance_id, client_id=m.client_id,
                                client_host=m.client_host, member_metadata=m.metadata,
                                member_assignment=m.assignment)
                          for m in summary.members) if ok else (),
            authorized_operations=(
                broker.access.operations(ctx, ResourceType.GROUP, group_id)
                if ok and wants_ops else ops.NOT_REQUESTED),
        ))
    return build(cls, throttle_time=timedelta(0), groups=tuple(described))
