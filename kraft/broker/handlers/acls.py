"""DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), versions 1-3:
answered as a Kafka broker without an authorizer answers them.

kraft has no authorizer (authorizer.class.name is not supported): every client
may do everything, as on a Kafka broker with none configured. Kafka then
answers the ACL APIs with SECURITY_DISABLED (AclApis): DescribeAcls as a
whole ("No Authorizer is configured on the broker"), CreateAcls per creation
and DeleteAcls per filter ("No Authorizer is configured."). kraft does the
same, so admin clients and `kafka-acls.sh` get that clear answer instead of
an unsupported API.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from kio.schema.errors import ErrorCode

from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import ApiRegistry
from kraft.net.server import RequestContext

if TYPE_CHECKING:
    from kraft.broker.server import BrokerServer

DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS = 29, 30, 31
MIN_VERSION = 1
MAX_VERSION = 3
NO_AUTHORIZER: Final = "No Authorizer is configured."
NO_AUTHORIZER_ON_BROKER: Final = "No Authorizer is configured on the broker"


async def handle(
    broker: BrokerServer, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    code = ErrorCode.security_disabled
    if header.api_key == DESCRIBE_ACLS:
        return build(cls, throttle_time=timedelta(0), error_code=code,
                     error_message=NO_AUTHORIZER_ON_BROKER, resources=())
    if header.api_key == CREATE_ACLS:
        result = nested(cls, "AclCreationResult")
        return build(cls, throttle_time=timedelta(0), results=tuple(
            build(result, error_code=code, error_message=NO_AUTHORIZER)
            for _ in request.creations))
    result = nested(cls, "DeleteAclsFilterResult")
    return build(cls, throttle_time=timedelta(0), filter_results=tuple(
        build(result, error_code=code, error_message=NO_AUTHORIZER, matching_acls=())
        for _ in request.filters))


def register(registry: ApiRegistry, broker: BrokerServer) -> None:
    for api_key in (DESCRIBE_ACLS, CREATE_ACLS, DELETE_ACLS):
        registry.register(api_key, MIN_VERSION, MAX_VERSION,
                          partial(handle, broker))
