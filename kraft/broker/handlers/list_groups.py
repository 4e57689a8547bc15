"""ListGroups (key 16), versions 0-5: the groups this broker coordinates.

Every group of every `__consumer_offsets` partition this broker leads and
has loaded, with its protocol type, state (v4+) and type (v5+, always
"classic"); v4's states filter and v5's types filter match
case-insensitively (Kafka 4). While a partition is still loading the answer
is COORDINATOR_LOAD_IN_PROGRESS with the groups already loaded. Admin
clients ask every broker and merge the answers.

Errors: COORDINATOR_NOT_AVAILABLE (not started), COORDINATOR_LOAD_IN_PROGRESS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    error, groups = api.list_groups(broker.group_coordinator,
                                    getattr(request, "states_filter", ()),
                                    getattr(request, "types_filter", ()))
    if not broker.access.cluster(ctx, AclOperation.DESCRIBE):  # else: those it may describe
        describable = broker.access.checker(ctx, AclOperation.DESCRIBE, ResourceType.GROUP)
        groups = [g for g in groups if describable(g.group_id)]
    cls = response_class(header)
    listed_cls = nested(cls, "ListedGroup")
    return build(cls, throttle_time=timedelta(0), error_code=error, groups=tuple(
        build(listed_cls, group_id=g.group_id, protocol_type=g.protocol_type,
              group_state=g.state, group_type=g.group_type)
        for g in groups
    ))
