"""CreateAcls (key 30), versions 1-3: answered as a Kafka broker without an authorizer.

Every creation gets SECURITY_DISABLED with Kafka's message ("No Authorizer is
configured."): kraft has no authorizer (see describe_acls.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import ApiSpec, RequestContext

API = ApiSpec(ApiKey.CREATE_ACLS, 1, 3)
NO_AUTHORIZER: Final = "No Authorizer is configured."


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    result = nested(cls, "AclCreationResult")
    return build(cls, throttle_time=timedelta(0), results=tuple(
        build(result, error_code=ErrorCode.security_disabled, error_message=NO_AUTHORIZER)
        for _ in request.creations))
