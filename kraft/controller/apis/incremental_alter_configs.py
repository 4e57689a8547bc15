"""IncrementalAlterConfigs (44), versions 0-1: forwarded by brokers;
kraft.controller.configs.incremental_alter_configs.

Error shape: every resource of the request gets the code. Nothing to wait
for on the broker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import configs
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.INCREMENTAL_ALTER_CONFIGS, version)
    item = nested(cls, "AlterConfigsResourceResponse")
    return build(cls, throttle_time=timedelta(0), responses=tuple(
        build(item, error_code=code, error_message=message, resource_type=r.resource_type,
              resource_name=r.resource_name)
        for r in request.resources
    ))


API = ControllerApi(
    ApiSpec(ApiKey.INCREMENTAL_ALTER_CONFIGS, 0, 1),
    command=configs.incremental_alter_configs,
    error_response=_error_response,
    forwarded=Forwarded(),
)
