"""DescribeAcls (key 29), versions 1-3: the ACLs of the broker's image that match a
filter; the answer is kraft.security.describe_acls, shared with the controller
listener (kraft/controller/apis/describe_acls.py)."""

from __future__ import annotations

from typing import Any

from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import response_class
from kraft.net.registry import RequestContext
from kraft.security.describe_acls import describe_acls


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    return describe_acls(broker.access, broker.image.acls, ctx, response_class(header), request)
