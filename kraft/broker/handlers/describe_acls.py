"""DescribeAcls (key 29), versions 1-3: answered as a Kafka broker without an authorizer.

kraft has no authorizer (authorizer.class.name is not supported): every client
may do everything, as on a Kafka broker with none configured. Kafka then
answers the ACL APIs with SECURITY_DISABLED (AclApis); DescribeAcls as a
whole, with "No Authorizer is configured on the broker", so admin clients and
`kafka-acls.sh` get that clear answer instead of an unsupported API.
CreateAcls and DeleteAcls: create_acls.py, delete_acls.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, response_class
from kraft.net.registry import ApiSpec, RequestContext

API = ApiSpec(ApiKey.DESCRIBE_ACLS, 1, 3)
NO_AUTHORIZER_ON_BROKER: Final = "No Authorizer is configured on the broker"


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    return build(response_class(header), throttle_time=timedelta(0),
                 error_code=ErrorCode.security_disabled, error_message=NO_AUTHORIZER_ON_BROKER,
                 resources=())
