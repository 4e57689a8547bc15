"""DescribeAcls (29), versions 1-3, on the controller listener: what `kafka-acls
--bootstrap-controller --list` asks.

Every controller answers, active or not, from its committed image, as Kafka's
ControllerApis does through its AclApis and its authorizer's copy of the ACLs;
the answer and its checks (DESCRIBE on the cluster, SECURITY_DISABLED without
an authorizer) are a broker's, kraft.security.describe_acls. Brokers answer
DescribeAcls themselves (kraft/broker/handlers/describe_acls.py), so it is not
forwarded.

Error shape: the top-level error and message, no resources.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller.apis import ControllerApi, EveryController
from kraft.controller.quorum_controller import QuorumController
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader, response_type
from kraft.net.messages import build, response_class
from kraft.net.registry import ApiSpec, RequestContext
from kraft.security.access import Access


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    return build(response_type(ApiKey.DESCRIBE_ACLS, version), throttle_time=timedelta(0),
                 error_code=code, error_message=message, resources=())


def _describe(controller: QuorumController, ctx: RequestContext, header: RequestHeader,
              request: Any) -> Any:
    # Loaded on the first request, as a broker's handler modules are (start-up, issue 12).
    from kraft.security.describe_acls import describe_acls

    image = controller.committed_image
    access = Access.from_config(controller.config, lambda: image.acls)
    return describe_acls(access, image.acls, ctx, response_class(header), request)


API = ControllerApi(
    ApiSpec(ApiKey.DESCRIBE_ACLS, 1, 3),
    command=EveryController(_describe),
    error_response=_error_response,
)
