"""DescribeConfigs (32), versions 1-4, on the controller listener: what `kafka-configs
--bootstrap-controller --describe` asks.

Every controller answers, active or not, from its own server.properties and its
committed image, as Kafka's ControllerApis does through its ConfigHelper: a
broker resource named by this controller's node.id (or the empty name, the
cluster-wide defaults), a topic, a group, its loggers. The answer and its
checks (DESCRIBE_CONFIGS per resource) are a broker's, kraft.describe_configs.
Brokers answer DescribeConfigs themselves, so it is not forwarded.

Error shape: every resource gets the code and message, no configs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller.apis import ControllerApi, EveryController
from kraft.controller.quorum_controller import QuorumController
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader, response_type
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import ApiSpec, RequestContext
from kraft.security.access import Access


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.DESCRIBE_CONFIGS, version)
    result = nested(cls, "DescribeConfigsResult")
    return build(cls, throttle_time=timedelta(0), results=tuple(
        build(result, error_code=code, error_message=message or "",
              resource_type=r.resource_type, resource_name=r.resource_name, configs=())
        for r in request.resources))


def _describe(controller: QuorumController, ctx: RequestContext, header: RequestHeader,
              request: Any) -> Any:
    # Loaded on the first request, as a broker's handler modules are (start-up, issue 12).
    from kraft.describe_configs import describe_configs

    image = controller.committed_image
    access = Access.from_config(controller.config, lambda: image.acls)
    return describe_configs(controller.config, image, access, ctx, response_class(header),
                            request)


API = ControllerApi(
    ApiSpec(ApiKey.DESCRIBE_CONFIGS, 1, 4),
    command=EveryController(_describe),
    error_response=_error_response,
)
