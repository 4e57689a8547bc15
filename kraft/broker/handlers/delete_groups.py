"""DeleteGroups (key 42), versions 0-2: delete empty groups and their offsets.

Per group: GROUP_ID_NOT_FOUND if it does not exist, NON_EMPTY_GROUP unless it
is Empty; otherwise tombstones for its committed offsets and its metadata
are written to `__consumer_offsets` with acks=all and the group is gone.
Routing errors as for every group API (COORDINATOR_NOT_AVAILABLE,
NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS); a failed write is answered
COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR.
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
    names = list(request.groups_names)
    deletable = broker.access.checker(ctx, AclOperation.DELETE, ResourceType.GROUP)
    allowed = [name for name in names if deletable(name)]
    outcome = dict(zip(allowed, await api.delete_groups(broker.group_coordinator, allowed),
                       strict=True))
    errors = [outcome.get(name, ErrorCode.group_authorization_failed) for name in names]
    cls = response_class(header)
    result_cls = nested(cls, "DeletableGroupResult")
    return build(cls, throttle_time=timedelta(0), results=tuple(
        build(result_cls, group_id=name, error_code=error)
        for name, error in zip(names, errors, strict=True)
    ))
