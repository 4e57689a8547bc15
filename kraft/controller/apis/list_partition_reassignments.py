"""ListPartitionReassignments (46), version 0: forwarded by brokers;
kraft.controller.reassignments.list_partition_reassignments.

Error shape: the top-level error covers the request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import reassignments
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build
from kraft.net.registry import ApiSpec


def _error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    cls = response_type(ApiKey.LIST_PARTITION_REASSIGNMENTS, version)
    return build(cls, throttle_time=timedelta(0), error_code=code, error_message=message,
                 topics=())


API = ControllerApi(
    ApiSpec(ApiKey.LIST_PARTITION_REASSIGNMENTS, 0, 0),
    command=reassignments.list_partition_reassignments,
    error_response=_error_response,
    forwarded=Forwarded(),
)
