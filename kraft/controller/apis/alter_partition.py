"""AlterPartition (56), versions 2-3: partition leaders change their ISR
(kraft.broker.isr); kraft.controller.alter_partition.alter_partition.

Error shape: the top-level error covers the request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import alter_partition
from kraft.controller.apis import ControllerApi
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.ALTER_PARTITION, version)
    return build(cls, throttle_time=timedelta(0), error_code=code, topics=())


API = ControllerApi(
    ApiSpec(ApiKey.ALTER_PARTITION, 2, 3),
    command=alter_partition.alter_partition,
    error_response=_error_response,
)
